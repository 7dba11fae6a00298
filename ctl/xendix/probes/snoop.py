"""``xendix snoop``: one line per integrity failure (dix_error; ``--guest``
also the guest's failed verifies), per unprotected I/O (dix_unprotected)
and per rejected pair (dix_rejected; blkfront's dix_refused), as they
happen, through a perf buffer (bpf/snoop.bpf.c).

TIME is the event's CLOCK_MONOTONIC stamp (bpf_ktime_get_ns) turned into
wall-clock time once, at start.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable

from .. import vdev as vdevs
from ..errors import XendixError
from ..host import Host
from ..untrusted import show
from . import bpf, spec
from .names import Names, devnum

EVENTS = ("dix_error", "dix_unprotected")
WHAT = {1: "error", 2: "unprotected", 3: "rejected", 4: "verify"}
HEADER = ("TIME", "EVENT", "DOMAIN", "VDEV", "BACKING", "SECTOR", "SECTORS", "DIR", "KIND", "STATUS")
LINE = "%-12s %-11s %-16s %-7s %-8s %12s %7s %-3s %-7s %s"
POLL_MS = 1000
REFRESH_S = 10.0  # names are looked up again this often: a domid can be reused
Echo = Callable[..., None]


def events(guest: bool) -> tuple[str, ...]:
    return EVENTS + (spec.REJECTED[spec.system(guest)],)


def _text(raw: Any) -> str:
    """A C string of the event (kernel-written, shown escaped anyway)."""
    return show(bytes(raw).split(b"\0", 1)[0])


@dataclass
class Event:
    """One line of snoop, decoded and named."""

    time: datetime
    event: str
    domain: str
    domid: int | None
    vdev: str
    devid: int | None
    backing: str
    dev: int
    id: int | None
    sector: int | None
    sectors: int | None
    write: bool | None
    dix: bool | None
    kind: str | None
    status: int | None
    reason: str | None

    @property
    def status_text(self) -> str:
        if self.event == "verify":
            return "-"
        base = "-" if self.status is None else spec.status_name(self.status)
        return f"{base}:{self.reason}" if self.reason else base

    def line(self) -> str:
        return LINE % (f"{self.time:%H:%M:%S.%f}"[:12], self.event, self.domain, self.vdev,
                       self.backing, "-" if self.sector is None else self.sector,
                       "-" if self.sectors is None else self.sectors,
                       "-" if self.write is None else "W" if self.write else "R",
                       self.kind or "-", self.status_text)

    def as_json(self) -> dict[str, Any]:
        return {"time": self.time.isoformat(timespec="microseconds"), "event": self.event,
                "domain": self.domain, "domid": self.domid, "vdev": self.vdev,
                "devid": self.devid, "backing": self.backing,
                "dev": devnum(self.dev) if self.dev else None, "id": self.id,
                "sector": self.sector, "sectors": self.sectors,
                "dir": None if self.write is None else "write" if self.write else "read",
                "dix": self.dix, "kind": self.kind, "status": self.status,
                "status_name": None if self.status is None else spec.status_name(self.status),
                "reason": self.reason}


def decode(ev: Any, names: Names, start: datetime, guest: bool) -> Event:
    """An event_t from the perf buffer -> Event (``start``: the wall-clock
    time of monotonic 0)."""
    what = WHAT.get(int(ev.what), f"event{int(ev.what)}")
    at = start + timedelta(microseconds=int(ev.ts) // 1000)
    request = bool(ev.has_request)
    dev = int(ev.dev)
    if what == "verify":
        disk = _text(ev.disk)
        dev = dev or names.disk_dev(bytes(ev.disk).split(b"\0", 1)[0].decode("ascii", "replace")) or 0
        domid, handle = names.guest_vbd(dev, disk)
        return Event(at, what, "?" if domid is None else names.domain(domid), domid,
                     "?" if handle is None else vdevs.name_of(handle), handle, disk, dev, None,
                     int(ev.sector), int(ev.nr_sectors), False, True, spec.kind_name(spec.VERIFY),
                     None, None)
    domid, handle = int(ev.domid), int(ev.handle)
    n = names.vbd(domid, handle, dev)
    kind = int(ev.kind) if request else 0
    return Event(at, what, n.domain, domid, n.vdev, handle, n.backing, dev, int(ev.id),
                 int(ev.sector) if request else None, int(ev.nr_sectors) if request else None,
                 bool(ev.write) if request else None, bool(ev.dix) if request else None,
                 spec.kind_name(kind) if kind else None,
                 int(ev.status) if request else (-1 if what == "rejected" else None),
                 _text(ev.reason) if what == "rejected" else None)


def wall_at_monotonic_zero(host: Host) -> datetime:
    """The wall-clock time when CLOCK_MONOTONIC (bpf_ktime_get_ns, Host.clock) was 0."""
    return datetime.now().astimezone() - timedelta(seconds=host.clock())


def close_perf_buffer(table: Any) -> None:
    """Close the perf buffer of every CPU now.  Left to bcc (0.26), the
    buffer is closed by the table's __del__ at interpreter exit, after
    bcc's own atexit clean-up, and prints an ignored KeyError."""
    for cpu in range(os.cpu_count() or 1):
        del table[cpu]  # a CPU whose buffer is not open is skipped


def run(host: Host, guest: bool, as_json: bool, echo: Echo) -> None:
    """Print events until Ctrl-C (KeyboardInterrupt goes on to the caller)."""
    warn = lambda m: echo(f"xendix: {m}", err=True)  # noqa: E731
    loaded = bpf.load(host, "snoop", guest, events(guest), verify=guest, warn=warn)
    echo(loaded.header, err=as_json)
    if not as_json:
        echo(LINE % HEADER)
    names = Names(host, guest)
    start = wall_at_monotonic_zero(host)
    table = loaded.bpf["events"]

    failed: list[XendixError] = []  # bcc calls back through ctypes, which drops exceptions

    def on_event(cpu: int, data: Any, size: int) -> None:
        if failed:
            return
        try:
            e = decode(table.event(data), names, start, guest)
        except XendixError as err:  # xenstored stalled or gone while naming a domain
            failed.append(err)
            return
        echo(json.dumps(e.as_json(), sort_keys=True) if as_json else e.line())

    def on_lost(count: int) -> None:
        warn(f"lost {count} events (the perf buffer was full)")

    table.open_perf_buffer(on_event, page_cnt=64, lost_cb=on_lost)
    try:
        refreshed = host.clock()
        while True:
            loaded.bpf.perf_buffer_poll(timeout=POLL_MS)
            if failed:
                raise failed[0]
            if host.clock() - refreshed >= REFRESH_S:
                names.refresh()
                refreshed = host.clock()
    finally:
        close_perf_buffer(table)
