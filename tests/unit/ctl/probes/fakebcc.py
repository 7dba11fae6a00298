"""A fake bcc: ``BPF`` whose maps are dicts, a perf buffer that calls back,
and a :class:`Kernel` that fires the drivers' tracepoints into whichever
program xendix loaded, doing what that program's C does (top.bpf.c,
snoop.bpf.c, dixlat.bpf.c, verify_*.bpf.c).  Tests speak in events:
``kernel.complete(VBD, sectors=8, write=True, dix=True)``."""

from __future__ import annotations

import re
import sys
import types
from dataclasses import dataclass, field
from types import SimpleNamespace as NS
from typing import Any, Callable

KINDS = {"none": 0, "unknown": 1, "guard": 2, "app": 3, "ref": 4, "verify": 5}
WHAT = {"error": 1, "unprotected": 2, "rejected": 3, "verify": 4}


def dev_t(major: int, minor: int) -> int:
    return (major << 20) | minor


@dataclass(frozen=True)
class Vbd:
    domid: int
    handle: int
    dev: int


class Key(NS):
    """A map key: hashable by its fields, as bcc's ctypes keys compare."""

    def __hash__(self) -> int:
        return hash(tuple(sorted(vars(self).items())))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Key) and vars(self) == vars(other)


class Table(dict):
    """A BPF hash: bcc's items/clear/batch API, and print_log2_hist as bcc
    prints it (one section per first key field, ``section_print_fn``)."""

    def __init__(self) -> None:
        super().__init__()
        self.hist_calls: list[tuple[Any, ...]] = []

    def items(self):  # type: ignore[override]
        return list(super().items())

    def items_lookup_and_delete_batch(self):
        items = self.items()
        self.clear()
        yield from items

    def print_log2_hist(self, val_type="value", section_header="Bucket ptr",
                        section_print_fn=None, bucket_fn=None, strip_leading_zero=None,
                        bucket_sort_fn=None):
        self.hist_calls.append((val_type, section_header))
        buckets: dict[int, list[int]] = {}
        for k, v in self.items():
            buckets.setdefault(k.bucket, [0] * 65)[k.slot] = v.value
        order = bucket_sort_fn(list(buckets)) if bucket_sort_fn else list(buckets)
        for b in order:
            print("\n%s = %s" % (section_header, section_print_fn(b) if section_print_fn else b))
            vals = buckets[b]
            last = max(i for i, n in enumerate(vals) if n)
            print("     %-19s : count     distribution" % val_type)
            for i in range(1, last + 1):
                low, high = (1 << i) >> 1, (1 << i) - 1
                low = low - 1 if low == high else low
                print("%10d -> %-10d : %-8d |%-40s|" % (low, high, vals[i],
                                                        "*" * (40 * vals[i] // max(vals))))


class PerfBuffer:
    def __init__(self) -> None:
        self.callback: Callable | None = None
        self.lost_cb: Callable | None = None
        self.page_cnt = 0

    def open_perf_buffer(self, callback, page_cnt=8, lost_cb=None, wakeup_events=1):
        self.callback, self.lost_cb, self.page_cnt = callback, lost_cb, page_cnt
        self.open_cpus = set(range(self.CPUS))

    CPUS = 2

    def __delitem__(self, cpu: int) -> None:
        """Closes the buffer of one CPU, as bcc's PerfEventArray does."""
        self.open_cpus.discard(cpu)

    def event(self, data):
        return data


class FakeBPF:
    """What xendix sees of bcc's BPF."""

    kernel: "Kernel"

    def __init__(self, text: str = "", **kwargs: Any) -> None:
        self.text = text
        self.cflags = kwargs.get("cflags", [])
        self.kprobes: list[tuple[str, str]] = []
        self.kretprobes: list[tuple[str, str]] = []
        self.tables: dict[str, Any] = {"vbds": Table(), "verify_fails": Table(), "dist": Table(),
                                       "start": Table(), "events": PerfBuffer()}
        if self.kernel.compile_error:
            raise Exception(self.kernel.compile_error)
        self.kernel.loaded.append(self)

    def __getitem__(self, name: str) -> Any:
        return self.tables[name]

    def attach_kprobe(self, event: str = "", fn_name: str = "", **kw: Any) -> None:
        self.kprobes.append((event, fn_name))

    def attach_kretprobe(self, event: str = "", fn_name: str = "", **kw: Any) -> None:
        self.kretprobes.append((event, fn_name))

    def perf_buffer_poll(self, timeout: int = -1) -> None:
        self.kernel.poll(self)

    # -- what the program does, by which tracepoints it has -------------------
    def probes(self) -> set[str]:
        """The tracepoints the program has a TRACEPOINT_PROBE for."""
        return {e for _, e in re.findall(r"TRACEPOINT_PROBE\((\w+), (\w+)\)", self.text)}

    @property
    def tool(self) -> str:
        return re.search(r"xendix (top|snoop|dixlat):", self.text).group(1)


@dataclass
class Kernel:
    """The kernel under the tools: fires tracepoints into the loaded program."""

    system: str = "xen_blkback"
    loaded: list[FakeBPF] = field(default_factory=list)
    clock: list[float] = field(default_factory=lambda: [0.0])
    compile_error: str | None = None
    on_poll: list[Callable[[], None]] = field(default_factory=list)  # one per perf_buffer_poll
    intervals: list[Callable[[], None]] = field(default_factory=list)  # one per Host.sleep

    @property
    def bpf(self) -> FakeBPF:
        (b,) = self.loaded
        return b

    def module(self) -> types.ModuleType:
        mod = types.ModuleType("bcc")
        mod.BPF = type("BPF", (FakeBPF,), {"kernel": self})  # type: ignore[attr-defined]
        return mod

    def _has(self, event: str) -> bool:
        return f"{self.system}_{event}" in self.bpf.probes()

    def ns(self) -> int:
        return int(self.clock[0] * 1e9)

    def _vbd_counts(self, v: Vbd) -> NS:
        key = Key(domid=v.domid, handle=v.handle, dev=v.dev)
        return self.bpf.tables["vbds"].setdefault(key, NS(
            reqs=0, bytes=0, dix=0, dix_sectors=0, unprotected=0, rejected=0,
            err_unknown=0, err_guard=0, err_app=0, err_ref=0))

    def _emit(self, **fields: Any) -> None:
        ev = NS(ts=self.ns(), id=0, sector=0, domid=0, handle=0, dev=0, nr_sectors=0, status=0,
                kind=0, what=0, write=0, dix=0, has_request=0, reason=b"", disk=b"")
        vars(ev).update(fields)
        perf = self.bpf.tables["events"]
        assert perf.callback is not None, "the perf buffer is not open"
        try:
            perf.callback(0, ev, 0)
        except Exception as e:  # as ctypes does with a callback's exception
            print(f"Exception ignored on calling ctypes callback function: {e!r}", file=sys.stderr)

    # -- tracepoints ---------------------------------------------------------------
    def submit(self, v: Vbd, id: int, sector: int = 0, sectors: int = 8, write: bool = False,
               dix: bool = False) -> None:
        if self.bpf.tool == "dixlat" and self._has("rq_submit"):
            key = Key(domid=v.domid, handle=v.handle, id=id, sector=sector)
            self.bpf.tables["start"][key] = NS(value=self.ns())

    def complete(self, v: Vbd, id: int = 0, sector: int = 0, sectors: int = 8,
                 write: bool = False, dix: bool = False, status: int = 0) -> None:
        if not self._has("rq_complete"):
            return
        if self.bpf.tool == "top":
            c = self._vbd_counts(v)
            c.reqs += 1
            c.bytes += sectors * 512
            if dix:
                c.dix += 1
                c.dix_sectors += sectors
        elif self.bpf.tool == "dixlat":
            start = self.bpf.tables["start"].pop(Key(domid=v.domid, handle=v.handle, id=id,
                                                     sector=sector), None)
            if start is None:
                return
            usecs = (self.ns() - start.value) // 1000
            slot = usecs.bit_length() if usecs else 1  # bpf_log2l
            key = Key(bucket=(v.domid << 33) | (v.handle << 1) | int(dix), slot=slot)
            dist = self.bpf.tables["dist"]
            dist.setdefault(key, NS(value=0)).value += 1

    def io(self, v: Vbd, id: int, after: float, **kw: Any) -> None:
        """A request that takes ``after`` seconds from submit to complete."""
        self.submit(v, id, **{k: x for k, x in kw.items() if k != "status"})
        self.clock[0] += after
        self.complete(v, id, **kw)

    def error(self, v: Vbd, kind: str, sector: int = 0, sectors: int = 8, write: bool = False,
              id: int = 0) -> None:
        if not self._has("dix_error"):
            return
        if self.bpf.tool == "top":
            c = self._vbd_counts(v)
            attr = {"guard": "err_guard", "app": "err_app", "ref": "err_ref"}.get(kind, "err_unknown")
            setattr(c, attr, getattr(c, attr) + 1)
        elif self.bpf.tool == "snoop":
            self._emit(what=1, domid=v.domid, handle=v.handle, dev=v.dev, id=id, sector=sector,
                       nr_sectors=sectors, write=int(write), dix=1, status=-3, kind=KINDS[kind],
                       has_request=1)

    def unprotected(self, v: Vbd, sector: int = 0, sectors: int = 8, write: bool = True,
                    id: int = 0) -> None:
        if not self._has("dix_unprotected"):
            return
        if self.bpf.tool == "top":
            self._vbd_counts(v).unprotected += 1
        elif self.bpf.tool == "snoop":
            self._emit(what=2, domid=v.domid, handle=v.handle, dev=v.dev, id=id, sector=sector,
                       nr_sectors=sectors, write=int(write), has_request=1)

    def rejected(self, v: Vbd, reason: str, id: int = 0) -> None:
        event = "dix_rejected" if self.system == "xen_blkback" else "dix_refused"
        if not self._has(event):
            return
        if self.bpf.tool == "top":
            self._vbd_counts(v).rejected += 1
        elif self.bpf.tool == "snoop":
            guest = self.system == "xen_blkfront"
            self._emit(what=3, domid=v.domid, handle=v.handle, dev=v.dev, id=id,
                       reason=reason.encode(), has_request=int(guest), status=-1 if guest else 0,
                       nr_sectors=8 if guest else 0, write=int(guest))

    def verify_failed(self, disk: str, sector: int, sectors: int = 1, dev: int = 0) -> None:
        """The guest's PI verify fails a read (the kretprobe's on_verify)."""
        if not self.bpf.kretprobes:
            return
        if self.bpf.tool == "top":
            key = Key(disk=disk.encode())
            t = self.bpf.tables["verify_fails"]
            t.setdefault(key, NS(value=0)).value += 1
        elif self.bpf.tool == "snoop":
            self._emit(what=4, kind=5, sector=sector, nr_sectors=sectors, dev=dev,
                       disk=disk.encode())

    def lost(self, n: int) -> None:
        self.bpf.tables["events"].lost_cb(n)

    def poll(self, b: FakeBPF) -> None:
        """perf_buffer_poll: run the next scripted step; none left is Ctrl-C."""
        if not self.on_poll:
            raise KeyboardInterrupt
        self.on_poll.pop(0)()
