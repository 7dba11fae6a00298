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
PROFILE_HZ = 499


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
        self.sampling = False

    def start_profile(self, dix: bool, hz: int = PROFILE_HZ) -> None:
        """Sample dom0's kernel stacks on every CPU until :meth:`stop_profile`."""
        from bcc import PerfSWConfig, PerfType

        if not self.sampling:
            self.bpf.attach_perf_event(ev_type=PerfType.SOFTWARE, ev_config=PerfSWConfig.CPU_CLOCK,
                                       fn_name="on_sample", sample_freq=hz, cpu=-1)
            self.sampling = True
        self.bpf["samples"].clear()
        armed = self.bpf["armed"]
        armed[armed.Key(0)] = armed.Leaf(1 if dix else 2)

    def stop_profile(self, top: int = 12) -> dict:
        """Disarm; the share of samples of the hottest kernel functions, as
        the leaf of a stack (self) and anywhere in it (total)."""
        armed = self.bpf["armed"]
        armed[armed.Key(0)] = armed.Leaf(0)
        stacks = self.bpf["stacks"]
        leaf: dict[str, int] = {}
        anywhere: dict[str, int] = {}
        n = 0
        for k, v in self.bpf["samples"].items():
            count = v.value
            n += count
            if k.kstack < 0:
                leaf["[user or idle]"] = leaf.get("[user or idle]", 0) + count
                continue
            names = [self.bpf.ksym(a).decode(errors="replace") for a in stacks.walk(k.kstack)]
            if names:
                leaf[names[0]] = leaf.get(names[0], 0) + count
            for name in set(names):
                anywhere[name] = anywhere.get(name, 0) + count

        def share(d: dict[str, int]) -> list[list]:
            return [[name, round(c / n, 4)] for name, c in
                    sorted(d.items(), key=lambda kv: -kv[1])[:top]] if n else []

        return {"samples": n, "self": share(leaf), "total": share(anywhere)}

    def snapshot(self, domid: int, handle: int, vdev: str) -> Snapshot:
        """The counters now; clears the in-flight maxima of the vbd."""
        vbd = {"requests": 0, "pairs": 0, "sectors": 0, "pair_sectors": 0,
               "max_inflight": 0, "max_inflight_pairs": 0}
        table = self.bpf["vbds"]
        for k, v in table.items():
            if k.domid == domid and k.handle == handle:
                for f in ("requests", "pairs", "sectors", "pair_sectors"):
                    vbd[f] = getattr(v, f)
                # Between runs the vbd is idle: start the next run's
                # in-flight count from 0, whatever an earlier one left.
                v.inflight = v.inflight_pairs = 0
                table[k] = v
        maxima = self.bpf["maxima"]
        for k, v in maxima.items():
            if k.domid == domid and k.handle == handle:
                vbd["max_inflight"], vbd["max_inflight_pairs"] = v.inflight, v.inflight_pairs
        maxima.clear()
        g = self.bpf["grants"]
        return Snapshot(dom0_busy(), thread_seconds(f"{domid}.{vdev}-"), vbd,
                        g[g.Key(0)].value, g[g.Key(1)].value)
