"""Values a guest wrote into xenstore: any bytes, any length.

They are compared as they are, but shown only escaped and capped: never
raw on a terminal or in JSON.  A driver domain writes its backend
directories, so their values count as guest-written too.
"""

from __future__ import annotations

CAP = 64  # characters of escaped text shown at most
PATH_CAP = 255  # the same, for a path (a backend's params)
_NAMED = {0x5C: "\\\\", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}
_QUOTES = (0x22, 0x27)


def raw_bytes(value: str | bytes) -> bytes:
    """The bytes behind a value read with ``surrogateescape`` (or given as bytes)."""
    if isinstance(value, bytes):
        return value
    try:
        return value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass")


def _escape(b: int) -> str:
    if b in _NAMED:
        return _NAMED[b]
    if 0x20 <= b < 0x7F and b not in _QUOTES:
        return chr(b)
    return f"\\x{b:02x}"


def show(value: str | bytes, cap: int = CAP) -> str:
    """Printable ASCII only: ``\\``, quotes, control and non-ASCII bytes are
    escaped (``\\n``, ``\\x1b``...); past ``cap`` characters the text is cut
    and the full length said, e.g. ``AAAA... (10240 bytes)``."""
    data = raw_bytes(value)
    out: list[str] = []
    width = 0
    for b in data:
        piece = _escape(b)
        if width + len(piece) > cap:
            return "".join(out) + f"... ({len(data)} bytes)"
        out.append(piece)
        width += len(piece)
    return "".join(out)


def show_optional(value: str | bytes | None, cap: int = CAP) -> str | None:
    """:func:`show`, with None (node absent) kept as None."""
    return None if value is None else show(value, cap)

