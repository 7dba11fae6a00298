"""The admin toggle data-integrity-enable: read as blkback reads it, written
in one transaction."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import UnknownVdev
from .untrusted import raw_bytes, show
from .xenstore import BACKEND_VBD, Store, transaction

ADMIN_NODE = "data-integrity-enable"
ADMIN_DEFAULT = 1  # blkback: xenbus_read_unsigned(dir, ADMIN_NODE, 1)

# The kernel's vsscanf("%u"): skip isspace() bytes (lib/ctype.c: \t \n \v \f \r,
# space and 0xa0), then at least one ASCII digit, up to the first other byte.
# The value ends at its first NUL: the kernel reads it as a C string.
_KERNEL_UNSIGNED = re.compile(rb"[\t\n\x0b\x0c\r \xa0]*([0-9]+)")
_U32_DIGITS = 32  # 10**32 is a multiple of 2**32: the last 32 digits give the value mod 2**32


def xenbus_unsigned(value: str | bytes | None, default: int) -> int:
    """What the kernel's ``xenbus_read_unsigned(dir, node, default)`` returns
    for a node that holds ``value`` (None: the node is absent).

    No sign, no base prefix ("0x1" is 0), trailing bytes ignored ("1abc" is
    1), wrapped to 32 bits ("4294967296" is 0); when no digit comes after the
    white space ("", "-1", "off", a missing node) the default."""
    if value is None:
        return default
    m = _KERNEL_UNSIGNED.match(raw_bytes(value))
    return int(m[1][-_U32_DIGITS:]) % 2**32 if m else default


def admin_enabled(value: str | bytes | None) -> bool:
    """blkback may advertise DIX: the toggle reads as non-zero (absent is on)."""
    return xenbus_unsigned(value, ADMIN_DEFAULT) != 0


@dataclass(frozen=True)
class Change:
    """One toggle write: before and after (None: the node was absent)."""

    domid: int
    devid: int
    before: str | None
    after: str


def _not_blkback(tx: Store, domid: int, devid: int) -> UnknownVdev:
    """The error for a disk without a blkback backend in dom0, saying what serves it."""
    served = tx.read(f"/local/domain/{domid}/device/vbd/{devid}/backend")
    if served is None:
        return UnknownVdev(f"vbd {domid}/{devid} has no backend (any more)")
    return UnknownVdev(f"vbd {domid}/{devid} is served by {show(served)}, not by dom0's blkback: "
                       "DIX is switched only there")


def write_toggles(store: Store, wanted: dict[tuple[int, int], bool]) -> list[Change]:
    """Set ``data-integrity-enable`` of every (domid, devid) in ``wanted``, all
    in one transaction (retried on EAGAIN).  A vbd whose backend has gone, or
    that another backend serves (qdisk, a driver domain), aborts the whole
    transaction: nothing is written."""

    def body(tx: Store) -> list[Change]:
        changes = []
        for (domid, devid), enable in sorted(wanted.items()):
            be = f"{BACKEND_VBD}/{domid}/{devid}"
            if tx.read(f"{be}/frontend") is None:
                raise _not_blkback(tx, domid, devid)
            before = tx.read(f"{be}/{ADMIN_NODE}")
            after = "1" if enable else "0"
            if before != after:
                tx.write(f"{be}/{ADMIN_NODE}", after)
            changes.append(Change(domid, devid, before, after))
        return changes

    return transaction(store, body)
