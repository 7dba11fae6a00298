"""dixlat's log2 histograms: the BPF key, and the JSON that bcc lacks.

bcc prints the text itself (``print_log2_hist``, by the key's first field,
so the key packs (domid, handle, dix) into one u64, ``bucket``).  Its
``print_json_hist`` prints a Python dict, not JSON, so the JSON shape is
built here, with bcc's slots: slot ``i`` counts values from ``2**(i-1)``
to ``2**i - 1`` (bpf_log2l), slot 1 also 0.
"""

from __future__ import annotations

from typing import Any, Iterable, NamedTuple

SLOTS = 65  # bcc's log2_index_max


class Bucket(NamedTuple):
    domid: int
    handle: int
    dix: bool


def pack(domid: int, handle: int, dix: bool) -> int:
    """What dixlat.bpf.c puts in the key's ``bucket``."""
    return ((domid & 0xFFFF) << 33) | ((handle & 0xFFFFFFFF) << 1) | int(dix)


def unpack(bucket: int) -> Bucket:
    return Bucket(bucket >> 33, (bucket >> 1) & 0xFFFFFFFF, bool(bucket & 1))


def sort_key(bucket: int) -> tuple[int, int, bool]:
    """vbds in (domid, handle) order, DIX before plain."""
    b = unpack(bucket)
    return b.domid, b.handle, not b.dix


def collect(items: Iterable[tuple[Any, Any]]) -> dict[int, list[int]]:
    """A BPF_HISTOGRAM with a (bucket, slot) key -> bucket -> counts per slot."""
    out: dict[int, list[int]] = {}
    for k, v in items:
        slot = int(k.slot)
        if 0 <= slot < SLOTS:
            out.setdefault(int(k.bucket), [0] * SLOTS)[slot] += int(v.value)
    return out


def slot_range(slot: int) -> tuple[int, int]:
    """The values slot ``slot`` counts, as bcc prints them."""
    low, high = (1 << slot) >> 1, (1 << slot) - 1
    return (low - 1 if low == high else low), high


def to_json(counts: list[int]) -> list[dict[str, int]]:
    """Slots 1 .. the last non-empty one, as bcc lists them: low, high, count."""
    last = max((i for i, n in enumerate(counts) if n), default=0)
    return [dict(zip(("low", "high"), slot_range(i)), count=counts[i]) for i in range(1, last + 1)]
