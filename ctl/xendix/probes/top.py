"""``xendix top``: per vbd, every interval, DIX and plain I/O, unprotected
and rejected requests, integrity errors by kind and the share of PI bytes.

The BPF program (bpf/top.bpf.c) counts per (domid, handle, dev) on
rq_complete (every READ/WRITE, with its ``dix`` flag and nr_sectors),
dix_error (by ``kind``), dix_unprotected and dix_rejected (blkfront:
dix_refused); ``--guest`` adds the guest's failed verifies, by disk name.
Python reads and empties the maps each interval and divides by the time
that really passed.  PI bytes of a DIX request are
nr_sectors * 512 / interval * tuple_size, with the vbd's profile
(:meth:`xendix.probes.names.Names.profile`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from .. import vdev as vdevs
from ..host import Host
from ..output import table
from ..untrusted import show
from . import bpf, spec
from .names import Names, devnum

EVENTS = ("rq_complete", "dix_error", "dix_unprotected")
KINDS = spec.ERROR_KINDS
Echo = Callable[..., None]


def events(guest: bool) -> tuple[str, ...]:
    return EVENTS + (spec.REJECTED[spec.system(guest)],)


@dataclass
class Row:
    """One vbd over one interval."""

    domid: int | None
    handle: int | None
    dev: int
    domain: str
    vdev: str
    backing: str
    seconds: float
    requests: int = 0
    bytes: int = 0
    dix: int = 0
    dix_sectors: int = 0
    unprotected: int = 0
    rejected: int = 0
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    pi_bytes: int | None = 0  # None: DIX I/O on a vbd whose profile is not known

    def rate(self, n: float) -> float:
        return n / self.seconds if self.seconds > 0 else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def pi_percent(self) -> float | None:
        if self.pi_bytes is None or not self.bytes:
            return None
        return 100.0 * self.pi_bytes / self.bytes


def snapshot(b: Any, names: Names, seconds: float, guest: bool) -> list[Row]:
    """Read and empty the counters: one Row per vbd with activity."""
    rows: dict[tuple[int | None, int | None, int], Row] = {}
    for k, v in bpf.drain(b["vbds"]):
        domid, handle, dev = int(k.domid), int(k.handle), int(k.dev)
        n = names.vbd(domid, handle, dev)
        row = Row(domid, handle, dev, n.domain, n.vdev, n.backing, seconds,
                  int(v.reqs), int(v.bytes), int(v.dix), int(v.dix_sectors),
                  int(v.unprotected), int(v.rejected),
                  {"guard": int(v.err_guard), "app": int(v.err_app), "ref": int(v.err_ref),
                   "unknown": int(v.err_unknown)})
        if row.dix_sectors:
            profile = names.profile(domid, handle, dev)
            row.pi_bytes = profile.pi_bytes(row.dix_sectors) if profile else None
        rows[(domid, handle, dev)] = row
    if guest:
        for k, v in bpf.drain(b["verify_fails"]):
            disk = bytes(k.disk).split(b"\0", 1)[0].decode("ascii", "replace")
            dev = names.disk_dev(disk) or 0
            domid, handle = names.guest_vbd(dev, disk)
            row = next((r for r in rows.values() if dev and r.dev == dev), None)
            if row is None:
                row = Row(domid, handle, dev, "?" if domid is None else names.domain(domid),
                          "?" if handle is None else vdevs.name_of(handle), show(disk), seconds)
                rows[(domid, handle, dev)] = row
            row.errors["verify"] = row.errors.get("verify", 0) + int(v.value)
    return sorted(rows.values(), key=lambda r: (-r.bytes, r.domain, r.vdev, r.dev))


def _rate(x: float) -> str:
    return f"{x:.1f}"


KIND_COLUMNS = {"guard": "GUARD/s", "app": "APP/s", "ref": "REF/s", "unknown": "UNKN/s",
                "verify": "VERIFY/s"}


def columns(guest: bool) -> list[str]:
    kinds = [KIND_COLUMNS[k] for k in KINDS] + (["VERIFY/s"] if guest else [])
    return ["DOMAIN", "VDEV", "BACKING", "DIX/s", "UNPROT/s", "REJ/s", "ERR/s", *kinds, "KB/s",
            "%PI-bytes"]


def text(rows: list[Row], guest: bool, seconds: float, now: datetime) -> str:
    """The screen of one interval: a time line, then the table."""
    body = []
    for r in rows:
        kinds = list(KINDS) + (["verify"] if guest else [])
        pct = r.pi_percent
        body.append([r.domain, r.vdev, r.backing, _rate(r.rate(r.dix)), _rate(r.rate(r.unprotected)),
                     _rate(r.rate(r.rejected)), _rate(r.rate(r.error_count)),
                     *(_rate(r.rate(r.errors.get(k, 0))) for k in kinds),
                     _rate(r.rate(r.bytes / 1024)), "-" if pct is None else f"{pct:.2f}"])
    head = f"{now:%H:%M:%S}  interval {seconds:.1f} s, {len(rows)} vbd{'s' * (len(rows) != 1)}"
    return head + "\n" + table(columns(guest), body)


def row_json(r: Row, guest: bool) -> dict[str, Any]:
    errors = dict(r.errors)
    if guest:
        errors.setdefault("verify", 0)
    pct = r.pi_percent
    return {
        "domain": r.domain, "domid": r.domid, "vdev": r.vdev, "devid": r.handle,
        "backing": r.backing, "dev": devnum(r.dev) if r.dev else None,
        "requests": r.requests, "bytes": r.bytes, "dix": r.dix, "pi_bytes": r.pi_bytes,
        "unprotected": r.unprotected, "rejected": r.rejected, "errors": errors,
        "dix_per_s": r.rate(r.dix), "unprotected_per_s": r.rate(r.unprotected),
        "rejected_per_s": r.rate(r.rejected), "errors_per_s": r.rate(r.error_count),
        "kb_per_s": r.rate(r.bytes / 1024), "pi_bytes_percent": pct,
    }


def json_line(rows: list[Row], guest: bool, seconds: float, now: datetime) -> str:
    return json.dumps({"time": now.isoformat(timespec="milliseconds"), "interval_s": seconds,
                       "vbds": [row_json(r, guest) for r in rows]}, sort_keys=True)


def wall() -> datetime:
    return datetime.now().astimezone()


def run(host: Host, guest: bool, interval: float, count: int | None, as_json: bool,
        echo: Echo, clear: Callable[[], None] | None = None) -> None:
    """Print every ``interval`` seconds, ``count`` times (None: until
    Ctrl-C, which prints the interval so far and goes on as KeyboardInterrupt).
    ``clear`` clears the screen before each table (not with -C or --json)."""
    warn = lambda m: echo(f"xendix: {m}", err=True)  # noqa: E731
    loaded = bpf.load(host, "top", guest, events(guest), verify=guest, warn=warn)
    echo(loaded.header, err=as_json)
    names = Names(host, guest)
    last, done = host.clock(), 0
    while True:
        interrupted = False
        try:
            host.sleep(interval)
        except KeyboardInterrupt:
            interrupted = True
        now = host.clock()
        seconds, last = now - last, now
        names.refresh()
        rows = snapshot(loaded.bpf, names, seconds, guest)
        if as_json:
            echo(json_line(rows, guest, seconds, wall()))
        else:
            if clear is not None:
                clear()
            echo(text(rows, guest, seconds, wall()))
        done += 1
        if interrupted:
            raise KeyboardInterrupt
        if count is not None and done >= count:
            return
