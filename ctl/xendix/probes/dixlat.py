"""``xendix dixlat``: log2 histograms of request latency in microseconds,
rq_submit -> rq_complete, per vbd, DIX pairs and plain requests apart
(bpf/dixlat.bpf.c).

A request is matched by (domid, handle, id), as the spec gives, and its
first sector: ids are unique among the in-flight requests of one ring,
and a vbd with several rings can have the same id in flight on two; the
sector tells those apart unless both start at the same sector (then one
latency is lost or mismeasured).  Requests submitted before the tool
started are not counted.

The text histograms are bcc's own (``print_log2_hist``); JSON lines are
built by :mod:`.hist`.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Callable

from .. import vdev as vdevs
from ..host import Host
from . import bpf, hist
from .names import Names

EVENTS = ("rq_submit", "rq_complete")
UNIT = "usecs"
Echo = Callable[..., None]


def label(names: Names, bucket: int) -> str:
    """A histogram's title: domain vdev (backing) dix|plain."""
    b = hist.unpack(bucket)
    return (f"{names.domain(b.domid)} {vdevs.name_of(b.handle)} "
            f"({names.backing_of_vbd(b.domid, b.handle)}) {'dix' if b.dix else 'plain'}")


def print_text(table: Any, names: Names) -> None:
    """bcc prints one histogram per vbd and kind (to stdout, as print())."""
    table.print_log2_hist(UNIT, "vbd", section_print_fn=lambda bucket: label(names, bucket),
                          bucket_sort_fn=lambda buckets: sorted(buckets, key=hist.sort_key))


def json_lines(table: Any, names: Names, now: datetime) -> list[str]:
    """One JSON line per vbd and kind."""
    lines = []
    for bucket, counts in sorted(hist.collect(table.items()).items(),
                                 key=lambda item: hist.sort_key(item[0])):
        b = hist.unpack(bucket)
        lines.append(json.dumps({
            "time": now.isoformat(timespec="milliseconds"), "domain": names.domain(b.domid),
            "domid": b.domid, "vdev": vdevs.name_of(b.handle), "devid": b.handle,
            "backing": names.backing_of_vbd(b.domid, b.handle), "dix": b.dix, "unit": UNIT,
            "count": sum(counts), "buckets": hist.to_json(counts)}, sort_keys=True))
    return lines


def wall() -> datetime:
    return datetime.now().astimezone()


def run(host: Host, guest: bool, interval: float | None, count: int | None, as_json: bool,
        echo: Echo) -> None:
    """Print the histograms every ``interval`` seconds (None: once, at
    Ctrl-C), ``count`` times; Ctrl-C prints what was gathered, then goes
    on as KeyboardInterrupt."""
    loaded = bpf.load(host, "dixlat", guest, EVENTS)
    echo(loaded.header, err=as_json)
    names = Names(host, guest)
    dist = loaded.bpf["dist"]
    done = 0
    while True:
        interrupted = False
        try:
            while interval is None:  # one histogram, at Ctrl-C
                host.sleep(3600)
            host.sleep(interval)
        except KeyboardInterrupt:
            interrupted = True
        names.refresh()
        now = wall()
        if as_json:
            for line in json_lines(dist, names, now):
                echo(line)
        else:
            echo(f"\n{now:%H:%M:%S}")
            print_text(dist, names)
        dist.clear()
        done += 1
        if interrupted:
            raise KeyboardInterrupt
        if count is not None and done >= count:
            return
