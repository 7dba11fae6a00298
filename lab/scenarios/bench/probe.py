"""dom0's counters for one fio run: blkback's requests per vbd (bcc, on
the drivers' tracepoints), grant operations (kprobes on the grant
table's map and unmap), dom0's CPU time and that of the vbd's blkback
threads."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
TICK = os.sysconf("SC_CLK_TCK")
CPU_BUSY = (0, 1, 2, 5, 6)  # /proc/stat: user nice system irq softirq


def busy_seconds(stat_line: str) -> float:
    """Busy CPU seconds in a /proc/stat ``cpu`` line (all CPUs)."""
    fields = [int(x) for x in stat_line.split()[1:]]
    return sum(fields[i] for i in CPU_BUSY if i < len(fields)) / TICK


def dom0_busy() -> float:
    return busy_seconds(Path("/proc/stat").read_text().splitlines()[0])


def thread_seconds(prefix: str) -> float:
    """CPU seconds of every thread whose name starts with ``prefix``
    (blkback's ring threads are ``<domid>.<vdev>-<queue>``)."""
    total = 0
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            if not (p / "comm").read_text().startswith(prefix):
                continue
            fields = (p / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime stime
    return total / TICK


@dataclass
class Snapshot:
    dom0_s: float
    threads_s: float
    vbd: dict[str, int]
    grant_maps: int
    grant_unmaps: int


class Probe:
    """The BPF program, loaded once; :meth:`snapshot` before and after a run."""

    def __init__(self) -> None:
        from bcc import BPF  # Debian's python3-bpfcc, in dom0's image

        self.bpf = BPF(src_file=str(HERE / "bench.bpf.c"),
                       cflags=["-Wno-duplicate-decl-specifier", "-Wno-ignored-attributes"])
        self.bpf.attach_kprobe(event="gnttab_map_refs", fn_name="on_map")
        self.bpf.attach_kprobe(event="gnttab_unmap_refs", fn_name="on_unmap")

    def snapshot(self, domid: int, handle: int, vdev: str) -> Snapshot:
        """The counters now; clears the in-flight maxima of the vbd."""
        vbd = {"requests": 0, "pairs": 0, "sectors": 0, "pair_sectors": 0,
               "max_inflight": 0, "max_inflight_pairs": 0}
        for k, v in self.bpf["vbds"].items():
            if k.domid == domid and k.handle == handle:
                for f in ("requests", "pairs", "sectors", "pair_sectors"):
                    vbd[f] = getattr(v, f)
        maxima = self.bpf["maxima"]
        for k, v in maxima.items():
            if k.domid == domid and k.handle == handle:
                vbd["max_inflight"], vbd["max_inflight_pairs"] = v.inflight, v.inflight_pairs
        maxima.clear()
        g = self.bpf["grants"]
        return Snapshot(dom0_busy(), thread_seconds(f"{domid}.{vdev}-"), vbd,
                        g[g.Key(0)].value, g[g.Key(1)].value)
