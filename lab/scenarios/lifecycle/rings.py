"""The ring probe (rings.bpf.c, through bcc): per blkback ring thread of
one vbd, the slots it consumed, its pairs, the most pairs in flight and
the pairs that crossed the ring's wrap index."""

from __future__ import annotations

import os
from pathlib import Path

HERE = Path(__file__).resolve().parent
SLOTS_PER_PAGE = 32  # BLK_RING_SIZE of one 4 KiB page, 64-bit ABI


def dev_t(dev: str) -> int:
    """A block device's number as the block tracepoints give it (the
    kernel's dev_t: major << 20 | minor)."""
    rdev = os.stat(os.path.realpath(dev)).st_rdev
    return os.major(rdev) << 20 | os.minor(rdev)


class RingProbe:
    """Loaded before the vbd connects; :meth:`rings` reads it at any time."""

    def __init__(self, handle: int, dev: str, ring_pages: int) -> None:
        from bcc import BPF  # Debian's python3-bpfcc, in dom0's image

        self.slots = SLOTS_PER_PAGE * ring_pages
        self.bpf = BPF(src_file=str(HERE / "rings.bpf.c"),
                       cflags=[f"-DVBD_HANDLE={handle}", f"-DVBD_DEV={dev_t(dev)}",
                               f"-DRING_SLOTS={self.slots}",
                               "-Wno-duplicate-decl-specifier", "-Wno-ignored-attributes"])

    def rings(self, domid: int | None = None) -> list[dict[str, int]]:
        """Every ring thread seen (of domain ``domid`` only, if given),
        with its counts; ``thread`` is its thread id."""
        out = []
        for tid, r in self.bpf["rings"].items():
            if domid is not None and r.domid not in (domid, 0):
                continue
            out.append({"thread": tid.value, "domid": r.domid, "slots": r.slots,
                        "requests": r.requests, "pairs": r.pairs, "flushes": r.flushes,
                        "wraps": r.wraps, "max_inflight_pairs": r.max_inflight_pairs,
                        "inflight_pairs": r.inflight_pairs, "ring_slots": self.slots})
        return sorted(out, key=lambda r: r["thread"])
