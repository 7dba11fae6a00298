"""``xendix exporter``: Prometheus metrics of every guest disk and dom0 disk.

Each scrape takes one snapshot, the code path of ``xendix status``
(:func:`inventory.status`) and of dom0's disk list, and turns it into
metric families (:class:`Collector`).  prometheus_client does the rest:
the exposition format and the escaping of label values, the HTTP server's
application (``make_wsgi_app``) and the atomic textfile
(``write_to_textfile``).  Only what blkback counts is exported, each
counter only when its sysfs file is there.  PI errors are one family with
a ``kind`` label: ``guard``, ``app`` and ``ref`` from blkback's
dix_err_guard, dix_err_app and dix_err_ref, ``unknown`` the rest of
dix_err; a blkback without the per-kind files (an older one) has every
error ``unknown``.  Requests without PI on a confirmed vbd (dix_unprotected)
and pairs refused for a protocol rule (dix_rejected) are two more counters.

A failed snapshot (xenstored gone, stalled past its deadline, or closed)
is a scrape with ``xendix_up 0`` and one more ``xendix_scrape_errors_total``,
not a failed scrape; the next scrape connects again.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import socket
import threading
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Callable, Iterator
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from prometheus_client import CollectorRegistry, make_wsgi_app, write_to_textfile
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from . import inventory
from .devices import BlockDevice
from .digits import decimal
from .errors import NoXenstore, Usage, XendixError
from .host import Host
from .vbd import Vbd
from .verdict import VERDICTS

TEXTFILE = "xendix.prom"  # node_exporter's textfile collector reads *.prom
VBD_LABELS = ["domain", "domid", "vdev", "backing"]
OPS = {"rd_req": "read", "wr_req": "write", "f_req": "flush", "ds_req": "discard"}
ERROR_KINDS = {"dix_err_guard": "guard", "dix_err_app": "app", "dix_err_ref": "ref"}
_HOSTNAME = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.?", re.ASCII)

OnError = Callable[[str], None]


def parse_listen(value: str) -> tuple[str, int]:
    """``ADDR:PORT`` -> (addr, port): an IPv4 address or a host name, an
    IPv6 address in brackets, or nothing (every IPv4 address).  ValueError
    says what is wrong."""
    addr, sep, port_text = value.rpartition(":")
    if not sep:
        raise ValueError(f"{value!r} is not ADDR:PORT (e.g. 127.0.0.1:9200, [::1]:9200)")
    if addr.startswith("[") and addr.endswith("]"):
        addr = addr[1:-1]
        try:
            ipaddress.IPv6Address(addr)
        except ValueError:
            raise ValueError(f"{addr!r} is not an IPv6 address") from None
    elif ":" in addr:
        raise ValueError(f"put an IPv6 address in brackets: [{addr}]:{port_text}")
    elif addr == "":
        addr = "0.0.0.0"
    elif not _HOSTNAME.fullmatch(addr):
        raise ValueError(f"{addr!r} is not an address or a host name")
    port = decimal(port_text)
    if port is None or port > 65535:
        raise ValueError(f"port {port_text!r} is not a number from 0 to 65535 in ASCII digits")
    return addr, port


def check_args(listen: tuple[str, int] | None, textfile: str | Path | None,
               interval: float | None) -> None:
    """One of --listen and --textfile; --interval only with --textfile."""
    if (listen is None) == (textfile is None):
        raise Usage("give --listen ADDR:PORT or --textfile DIR (one of them)")
    if interval is not None and textfile is None:
        raise Usage("--interval is for --textfile: a scrape reads at each request")


def _vbd_labels(v: Vbd) -> list[str]:
    """domain (escaped, as ``status`` shows it), domid, vdev, backing ("" if none)."""
    return [v.domain, str(v.domid), v.vdev, v.backing.name if v.backing else ""]


def errors_by_kind(stats: dict[str, int]) -> dict[str, int]:
    """dix_err split by kind: guard, app and ref as blkback has them (none on
    an older blkback), then ``unknown``, the rest, so that they add up to
    dix_err.  The files are read one after the other: an error counted
    between two reads can leave the kinds above dix_err for one scrape, so
    ``unknown`` is never below 0.  {} without dix_err."""
    if "dix_err" not in stats:
        return {}
    out = {kind: stats[node] for node, kind in ERROR_KINDS.items() if node in stats}
    out["unknown"] = max(stats["dix_err"] - sum(out.values()), 0)
    return out


def vbd_metrics(vbds: list[Vbd]) -> list[Metric]:
    """blkback's counters of each dom0 vbd (only those its sysfs has) and
    every vbd's verdict, one-hot over every verdict."""
    dix_req = CounterMetricFamily("xendix_vbd_dix_requests_total",
                                  "Requests blkback submitted with PI (dix_req).", labels=VBD_LABELS)
    dix_err = CounterMetricFamily("xendix_vbd_dix_errors_total",
                                  "Requests with PI that ended in a PI error (dix_err), by kind: "
                                  "guard, app, ref (dix_err_guard...), unknown (the rest).",
                                  labels=VBD_LABELS + ["kind"])
    unprotected = CounterMetricFamily("xendix_vbd_unprotected_total",
                                      "Requests without PI on a vbd whose frontend confirmed DIX "
                                      "(dix_unprotected).", labels=VBD_LABELS)
    rejected = CounterMetricFamily("xendix_vbd_rejected_total",
                                   "Request pairs refused for breaking a protocol rule "
                                   "(dix_rejected).", labels=VBD_LABELS)
    reqs = CounterMetricFamily("xendix_vbd_requests_total",
                               "Requests blkback served, by op (rd_req, wr_req, f_req, ds_req).",
                               labels=VBD_LABELS + ["op"])
    verdict = GaugeMetricFamily("xendix_vbd_verdict", "1 for the vbd's verdict, 0 for the others.",
                                labels=VBD_LABELS + ["backend", "verdict"])
    seen: set[tuple[str, ...]] = set()  # a duplicate series would fail the whole scrape
    for v in vbds:
        labels = _vbd_labels(v)
        backend = v.backend_kind or "vbd"
        if tuple(labels + [backend]) in seen:
            continue
        seen.add(tuple(labels + [backend]))
        if v.backend_kind is None:  # counters: dom0's blkback only
            if "dix_req" in v.stats:
                dix_req.add_metric(labels, v.stats["dix_req"])
            for kind, n in errors_by_kind(v.stats).items():
                dix_err.add_metric(labels + [kind], n)
            if "dix_unprotected" in v.stats:
                unprotected.add_metric(labels, v.stats["dix_unprotected"])
            if "dix_rejected" in v.stats:
                rejected.add_metric(labels, v.stats["dix_rejected"])
            for node, op in OPS.items():
                if node in v.stats:
                    reqs.add_metric(labels + [op], v.stats[node])
        got = v.verdict[0]
        for name in VERDICTS:
            verdict.add_metric(labels + [backend, name], 1 if name == got else 0)
    return [dix_req, dix_err, unprotected, rejected, reqs, verdict]


def disk_metrics(disks: list[BlockDevice]) -> list[Metric]:
    """1 per dom0 disk, labelled with its integrity format ("none": plain)."""
    info = GaugeMetricFamily("xendix_disk_integrity_info",
                             "A dom0 disk and its integrity profile's format.",
                             labels=["device", "format"])
    for d in disks:
        info.add_metric([d.name, d.integrity.format], 1)
    return [info]


class Collector:
    """A prometheus_client collector: one snapshot per scrape, scrapes one
    at a time.  ``on_error`` hears why a snapshot failed."""

    def __init__(self, host: Host, on_error: OnError | None = None) -> None:
        self.host = host
        self.on_error = on_error
        self.errors = 0
        self.lock = threading.Lock()

    def snapshot(self) -> list[Metric] | None:
        """The vbd and disk metrics; None when xenstore or sysfs failed."""
        try:
            return vbd_metrics(inventory.status(self.host)) + disk_metrics(self.host.disks().disks())
        except (XendixError, OSError) as e:
            self.errors += 1
            if isinstance(e, NoXenstore):  # a stalled or closed store fails every later call
                self.host = dataclasses.replace(self.host, _store=None)
            if self.on_error:
                self.on_error(str(e))
            return None

    def collect(self) -> Iterator[Metric]:
        with self.lock:
            start = self.host.clock()
            found = self.snapshot()
            took = self.host.clock() - start
            errors = self.errors
        yield from found or []
        yield GaugeMetricFamily("xendix_up", "1 if this scrape read xenstore and sysfs, 0 if not.",
                                value=0 if found is None else 1)
        yield CounterMetricFamily("xendix_scrape_errors_total",
                                  "Scrapes whose snapshot failed (xenstored unreachable...).",
                                  value=errors)
        yield GaugeMetricFamily("xendix_scrape_duration_seconds", "How long the snapshot took.",
                                value=took)


def registry(host: Host, on_error: OnError | None = None) -> CollectorRegistry:
    """A registry with xendix's collector alone."""
    reg = CollectorRegistry()
    reg.register(Collector(host, on_error))
    return reg


# -- --listen ------------------------------------------------------------------

class _Server(ThreadingMixIn, WSGIServer):
    """A thread per scrape, as prometheus_client's own server."""

    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """No line per scrape."""


def listen(host: Host, addr: str, port: int, on_error: OnError | None = None) -> WSGIServer:
    """An HTTP server bound to addr:port (not serving yet) whose every
    request is a scrape of prometheus_client's ``make_wsgi_app``."""
    try:
        family, _, _, _, sockaddr = socket.getaddrinfo(addr, port, type=socket.SOCK_STREAM,
                                                       flags=socket.AI_PASSIVE)[0]
        server = type("Server", (_Server,), {"address_family": family})(sockaddr, _Quiet)
    except OSError as e:  # gaierror included
        raise XendixError(f"cannot listen on {url_of(addr, port)}: {e.strerror or e}") from None
    server.set_app(make_wsgi_app(registry(host, on_error)))
    return server


def url_of(addr: str, port: int) -> str:
    return f"http://[{addr}]:{port}/metrics" if ":" in addr else f"http://{addr}:{port}/metrics"


def url(server: WSGIServer) -> str:
    """Where the server answers (the real port when 0 was asked)."""
    addr, port = server.server_address[:2]
    return url_of(str(addr), int(port))


def serve(server: WSGIServer) -> None:
    """Answer scrapes until interrupted (Ctrl-C: KeyboardInterrupt)."""
    try:
        server.serve_forever()
    finally:
        server.server_close()


# -- --textfile ----------------------------------------------------------------

def textfile_path(directory: str | Path) -> Path:
    return Path(directory) / TEXTFILE


def textfile(host: Host, directory: str | Path, interval: float | None = None,
             on_error: OnError | None = None) -> Path:
    """Write DIR/xendix.prom (a temporary file renamed over it, by
    prometheus_client), once or every ``interval`` seconds until interrupted."""
    path = textfile_path(directory)
    reg = registry(host, on_error)
    due = host.clock()
    while True:
        try:
            write_to_textfile(str(path), reg)
        except OSError as e:
            raise XendixError(f"cannot write {path}: {e.strerror or e}") from None
        if interval is None:
            return path
        due += interval
        host.sleep(max(due - host.clock(), 0.0))
