"""``xendix monitor``: vbd add/remove, changes of both ends' nodes and of
each vbd's verdict, and blkback's DIX uevents, from uevents and xenstore
waited on together.

Every source feeds one queue (:class:`Hub`), stamped on arrival: uevents
through pyudev's MonitorObserver where udevd runs (its thread selects on
the netlink socket; udev's processed events), else the kernel's own
uevent socket through pyroute2 (:mod:`uevents`, a thread that selects on
it); xenstore through a thread that moves watch events over (the Watch
protocol has no file descriptor to select on).  ``--source`` picks the
uevents' source: ``auto`` (udev if ``/run/udev/control`` is there, else
the kernel's; xenstore alone if that one cannot be opened), ``udev`` or
``kernel`` (an error if it cannot be read).

blkback tells of DIX failures with change uevents on its vbd-D-N device
(XENDIX_EVENT, XENDIX_COUNT, XENDIX_KIND, XENDIX_FORMAT, XENDIX_DOMID,
XENDIX_DEVID; docs/observability.md): each is one event (``integrity-error``
with its count and kind, ``unprotected``, ``rejected``, ``profile-change``
with the format), attributed to the vbd its device name says.  The values
are read strictly: one that is missing, not ASCII digits, out of range or
disagreeing with the device name makes a ``malformed-uevent`` event that
says why, values escaped (:mod:`untrusted`).  The caller's thread takes
items off the queue as they come, a burst at once, and reads each changed
node before it recomputes any verdict, so a value that lasted between two
writes is read while it is there.  A vbd whose
``frontend`` node was written is announced even when it is already gone
(added and removed at once): its add and its remove both.  Every wait is
bounded: the queue by ``--timeout`` and ``WAIT_SLICE``, the watch by
``WAIT_SLICE``, joining a feeder by ``JOIN_TIMEOUT``.
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from . import uevents
from .errors import XendixError
from .host import Host
from .uevents import VbdUevent, vbd_ids
from .untrusted import raw_bytes, show
from .vbd import ADMIN_NODE, XENBUS_STATES, all_ids, gather
from .xenstore import BACKEND_VBD, Store, Watch

WAIT_SLICE = 0.5  # the longest any internal wait lasts before it looks again
JOIN_TIMEOUT = 2.0
BATCH_MAX = 256  # items read before the verdicts they touched are recomputed
WATCH_ROOT = "/local/domain"  # both ends of every vbd, present and future: one watch
BACKEND_NODES = ("state", "physical-device", "feature-data-integrity", "data-integrity-format",
                 ADMIN_NODE)
FRONTEND_NODES = ("state", "feature-data-integrity", "data-integrity-format")
_STATE = re.compile(r"[0-9]{1,3}")
UDEV_CONTROL = Path("/run/udev/control")  # udevd's control socket: there while udevd runs
SOURCES = ("auto", "udev", "kernel")
XENDIX_KEYS = ("XENDIX_EVENT", "XENDIX_COUNT", "XENDIX_KIND", "XENDIX_FORMAT", "XENDIX_DOMID",
               "XENDIX_DEVID")
DIX_EVENTS = ("integrity-error", "unprotected", "rejected", "profile-change")
DIX_KINDS = ("guard", "app", "ref", "unknown")
COUNT_MAX = 2**64 - 1  # blkback's counters are 64-bit
_COUNT = re.compile(rb"[1-9][0-9]{0,19}")
_ID = re.compile(rb"0|[1-9][0-9]{0,9}")

Ids = tuple[int, int]
Event = dict[str, Any]


def now() -> str:
    """The local time, ISO 8601 with its offset: 2025-06-01T10:00:00.123+02:00."""
    return datetime.now().astimezone().isoformat(timespec="milliseconds")


def event(source: str, what: str, domid: int, devid: int, at: str | None = None,
          **extra: Any) -> Event:
    """One monitor event (its JSON line), stamped ``at`` (now by default)."""
    return {"time": at or now(), "source": source, "event": what, "vbd": f"vbd-{domid}-{devid}",
            "domid": domid, "devid": devid, **extra}


@dataclass(frozen=True)
class Item:
    """What a feeder hands over: a uevent (action, sys_name), a changed path, or an error."""

    source: str  # "udev", "xenstore" or "error"
    time: str
    data: Any


class Hub:
    """The one queue every source feeds; the monitor waits on all of them at once."""

    def __init__(self) -> None:
        self.queue: queue.Queue[Item] = queue.Queue()

    def put(self, source: str, data: Any) -> None:
        self.queue.put(Item(source, now(), data))

    def fail(self, error: XendixError) -> None:
        self.queue.put(Item("error", now(), error))

    def batch(self, timeout: float) -> list[Item]:
        """Every item queued now, after waiting at most ``timeout`` seconds for
        the first: a burst is read before anything slower is done."""
        items: list[Item] = []
        try:
            items.append(self.queue.get(timeout=max(timeout, 0.0)))
            while len(items) < BATCH_MAX:
                items.append(self.queue.get_nowait())
        except queue.Empty:
            pass
        return items


class PollFeed:
    """A thread that moves what ``source.get(WAIT_SLICE)`` returns into the
    hub as ``name`` items: a xenstore watch, the kernel's uevent socket."""

    name = ""
    failed = ""  # the one line when the source fails

    def __init__(self, hub: Hub, source: Any) -> None:
        self.hub, self.source = hub, source
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"xendix-{self.name}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            while not self.stop.is_set():
                found = self.source.get(WAIT_SLICE)
                if found is not None:
                    self.hub.put(self.name, found)
        except XendixError as e:
            self.hub.fail(e)
        except Exception as e:  # noqa: BLE001 - told in one line, not a thread's traceback
            self.hub.fail(XendixError(f"{self.failed}: {e}"))

    def alive(self) -> bool:
        return self.thread.is_alive()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(JOIN_TIMEOUT)
        self.source.close()


class XenstoreFeed(PollFeed):
    """A watch's changed paths into the hub."""

    name, failed = "xenstore", "xenstore watch failed"


def netlink_monitor() -> Any:
    """udev's netlink monitor (pyudev); raises when there is no libudev or no udevd."""
    import pyudev

    return pyudev.Monitor.from_netlink(pyudev.Context())


class UdevFeed:
    """xen-backend uevents into the hub, through pyudev's MonitorObserver."""

    def __init__(self, hub: Hub, monitor: Any) -> None:
        import pyudev

        class Observer(pyudev.MonitorObserver):
            def run(self) -> None:  # a failure is one line, not a thread's traceback
                try:
                    super().run()
                except Exception as e:  # noqa: BLE001
                    hub.fail(XendixError(f"udev monitor failed: {e}"))

        self.hub = hub
        monitor.filter_by("xen-backend")
        self.observer = Observer(monitor, callback=self._device, name="xendix-udev")
        self.observer.start()

    def _device(self, device: Any) -> None:
        found = udev_uevent(device)
        if found is not None:
            self.hub.put("udev", found)

    def alive(self) -> bool:
        return self.observer.is_alive()

    def close(self) -> None:
        self.observer.send_stop()
        self.observer.join(JOIN_TIMEOUT)


def _property(device: Any, key: str) -> bytes | None:
    """A udev property's raw bytes (pyudev decodes UTF-8 strictly: the bytes
    of one that is not come from its UnicodeDecodeError); None if absent."""
    props = getattr(device, "properties", None)
    if props is None:
        return None
    try:
        value = props.get(key)
    except UnicodeDecodeError as e:
        return bytes(e.object)
    return None if value is None else raw_bytes(value)


def udev_uevent(device: Any) -> VbdUevent | None:
    """A pyudev Device as the uevent of a vbd backend (None for any other
    device, or one whose name or action is not plain ASCII)."""
    try:
        name, action = device.sys_name, device.action or "change"
    except UnicodeDecodeError:
        return None
    ids = vbd_ids(name) if isinstance(name, str) else None
    if ids is None or not (isinstance(action, str) and action.isascii() and action.isalpha()):
        return None
    env = {k: v for k in XENDIX_KEYS if (v := _property(device, k)) is not None}
    return VbdUevent(action, name, *ids, env=env)


class KernelFeed(PollFeed):
    """The kernel's vbd uevents into the hub, read through pyroute2
    (:class:`uevents.KernelUevents`)."""

    name, failed = "kernel", "kernel uevent socket failed"


def udevd_running() -> bool:
    return UDEV_CONTROL.exists()


def open_uevents(hub: Hub, source: str, udev_monitor: Callable[[], Any],
                 kernel_socket: Callable[[], Any]) -> Any:
    """The feed of the uevents ``source`` names (``auto``: udev where udevd
    runs, else the kernel's); with ``auto``, None when it cannot be opened
    (xenstore alone), otherwise an error that says why."""
    pick = source if source != "auto" else "udev" if udevd_running() else "kernel"
    try:
        if pick == "udev":
            if not udevd_running():
                raise XendixError(f"udevd is not running (no {UDEV_CONTROL}): "
                                  "try --source kernel")
            return UdevFeed(hub, udev_monitor())
        return KernelFeed(hub, uevents.KernelUevents(kernel_socket()))
    except Exception as e:  # noqa: BLE001 - no libudev, no pyroute2, no socket
        if source == "auto":
            return None
        raise XendixError(f"monitor --source {source}: {e}") from None


class Malformed(ValueError):
    """A DIX uevent that breaks the contract: why, values escaped."""


def _id_of(env: Mapping[str, bytes], key: str, want: int, name: str) -> None:
    value = env.get(key)
    if value is None:
        raise Malformed(f"no {key}")
    if not _ID.fullmatch(value) or int(value) != want:
        raise Malformed(f"{key}={show(value)} is not the device's ({name})")


def _count(env: Mapping[str, bytes]) -> int:
    value = env.get("XENDIX_COUNT")
    if value is None:
        raise Malformed("no XENDIX_COUNT")
    if not _COUNT.fullmatch(value) or int(value) > COUNT_MAX:
        raise Malformed(f"XENDIX_COUNT={show(value)} is not a count from 1 to 2^64-1 in ASCII "
                        "digits")
    return int(value)


def dix_fields(u: VbdUevent) -> tuple[str, dict[str, Any]]:
    """A DIX uevent's event name and fields: ``integrity-error`` (count,
    kind), ``unprotected`` and ``rejected`` (count), ``profile-change``
    (format, escaped; count if given).  Malformed says what is wrong."""
    name = u.env["XENDIX_EVENT"]
    what = name.decode() if name.isascii() and name.decode() in DIX_EVENTS else None
    if what is None:
        raise Malformed(f"XENDIX_EVENT={show(name)} is not one of {', '.join(DIX_EVENTS)}")
    _id_of(u.env, "XENDIX_DOMID", u.domid, u.name)
    _id_of(u.env, "XENDIX_DEVID", u.devid, u.name)
    fields: dict[str, Any] = {}
    if what == "profile-change":
        fmt = u.env.get("XENDIX_FORMAT")
        if fmt is None:
            raise Malformed("profile-change without XENDIX_FORMAT")
        fields["format"] = show(fmt)
        if "XENDIX_COUNT" in u.env:
            fields["count"] = _count(u.env)
        return what, fields
    fields["count"] = _count(u.env)
    if what == "integrity-error":
        kind = u.env.get("XENDIX_KIND")
        if kind is None or not kind.isascii() or kind.decode() not in DIX_KINDS:
            raise Malformed("integrity-error without a XENDIX_KIND of "
                            f"{', '.join(DIX_KINDS)}" + (f": {show(kind)}" if kind else ""))
        fields["kind"] = kind.decode()
    return what, fields


def _shown(value: str | None) -> str | None:
    return None if value is None else show(value)


class Tracker:
    """Turns changed paths and uevents into events, and keeps what it last
    saw of each vbd: its frontend directory, watched values and verdict."""

    def __init__(self, store: Store, verdict_of: Callable[[int, int], tuple[str, str]]) -> None:
        self.store, self.verdict_of = store, verdict_of
        self.frontends: dict[Ids, str] = {}  # the vbds known to exist
        self.values: dict[str, str | None] = {}
        self.verdicts: dict[Ids, str] = {}

    def snapshot(self) -> None:
        """What is there at the start: known, not announced."""
        for ids in all_ids(self.store):
            if self._present(ids):
                self._add(ids, now())
                self.verdicts[ids] = self.verdict_of(*ids)[0]

    def handle(self, items: list[Item]) -> list[Event]:
        """The events the items mean, in order, then the verdict changes they made."""
        out: list[Event] = []
        for item in items:
            out += self._uevent(item.source, item.data, item.time) \
                if item.source in ("udev", "kernel") else self._path(item.data, item.time)
        touched = dict.fromkeys((e["domid"], e["devid"]) for e in out)
        return out + [v for ids in touched for v in self._verdict(ids, items[-1].time)]

    # -- xenstore ---------------------------------------------------------
    def _path(self, path: str, t: str) -> list[Event]:
        if path == BACKEND_VBD or BACKEND_VBD.startswith(path + "/"):
            return self._rescan(path, t)
        if path.startswith(BACKEND_VBD + "/"):
            parts = path[len(BACKEND_VBD) + 1:].split("/")
            if len(parts) == 1:
                return self._rescan(path, t)
            if parts[0].isdigit() and parts[1].isdigit():
                return self._backend((int(parts[0]), int(parts[1])), parts[2:], path, t)
            return []
        for ids, fe in list(self.frontends.items()):
            if path.startswith(fe + "/") and path[len(fe) + 1:] in FRONTEND_NODES:
                return self._node(ids, "frontend", path[len(fe) + 1:], path, t)
        return []

    def _backend(self, ids: Ids, rest: list[str], path: str, t: str) -> list[Event]:
        present = self._present(ids)
        out: list[Event] = []
        if ids not in self.frontends and (present or rest == ["frontend"]):
            out += self._announce(ids, t)  # written, even if removed since
        if ids in self.frontends and not present:
            return out + self._remove(ids, t)
        if ids in self.frontends and len(rest) == 1 and rest[0] in BACKEND_NODES:
            out += self._node(ids, "backend", rest[0], path, t)
        return out

    def _rescan(self, path: str, t: str) -> list[Event]:
        """A directory above the vbds changed: compare what is there with what is known."""
        def under(ids: Ids) -> bool:
            return f"{BACKEND_VBD}/{ids[0]}/{ids[1]}".startswith(path + "/")
        out: list[Event] = []
        for ids in sorted(self.frontends):
            if under(ids) and not self._present(ids):
                out += self._remove(ids, t)
        for ids in all_ids(self.store):
            if under(ids) and ids not in self.frontends and self._present(ids):
                out += self._announce(ids, t)
        return out

    def _present(self, ids: Ids) -> bool:
        return self.store.read(f"{BACKEND_VBD}/{ids[0]}/{ids[1]}/frontend") is not None

    def _add(self, ids: Ids, t: str) -> list[Event]:
        """Learn a vbd's frontend and its watched nodes; the nodes that are set, as events."""
        be = f"{BACKEND_VBD}/{ids[0]}/{ids[1]}"
        fe = self.store.read(f"{be}/frontend") or f"/local/domain/{ids[0]}/device/vbd/{ids[1]}"
        self.frontends[ids] = fe
        out: list[Event] = []
        for end, base, nodes in (("backend", be, BACKEND_NODES), ("frontend", fe, FRONTEND_NODES)):
            for node in nodes:
                out += self._node(ids, end, node, f"{base}/{node}", t)
        return out

    def _announce(self, ids: Ids, t: str) -> list[Event]:
        nodes = self._add(ids, t)
        return [event("xenstore", "add", *ids, at=t, frontend=self.frontends[ids])] + nodes

    def _remove(self, ids: Ids, t: str) -> list[Event]:
        be, fe = f"{BACKEND_VBD}/{ids[0]}/{ids[1]}/", self.frontends.pop(ids) + "/"
        for path in [p for p in self.values if p.startswith((be, fe))]:
            del self.values[path]
        self.verdicts.pop(ids, None)
        return [event("xenstore", "remove", *ids, at=t)]

    def _node(self, ids: Ids, end: str, node: str, path: str, t: str) -> list[Event]:
        """An event when a watched node's value differs from the one last seen
        (values are shown escaped: the frontend's are guest-written)."""
        value = self.store.read(path)
        if value == self.values.get(path):
            return []
        self.values[path] = value
        kind = "state" if node == "state" else "node"
        e = event("xenstore", kind, *ids, at=t, end=end, node=f"{end}/{node}", path=path,
                  value=_shown(value))
        if kind == "state" and value is not None and _STATE.fullmatch(value):
            e["state_name"] = XENBUS_STATES.get(int(value))
        return [e]

    # -- uevents and verdicts ----------------------------------------------
    def _uevent(self, source: str, u: VbdUevent, t: str) -> list[Event]:
        """An add, remove, change..., or blkback's DIX event (or why it is malformed)."""
        if "XENDIX_EVENT" not in u.env:
            return [event(source, u.action, u.domid, u.devid, at=t)]
        try:
            what, fields = dix_fields(u)
        except Malformed as e:
            return [event(source, "malformed-uevent", u.domid, u.devid, at=t, why=str(e))]
        return [event(source, what, u.domid, u.devid, at=t, **fields)]

    def _verdict(self, ids: Ids, t: str) -> list[Event]:
        if ids not in self.frontends:
            return []
        verdict, why = self.verdict_of(*ids)
        was = self.verdicts.get(ids)
        if verdict == was:
            return []
        self.verdicts[ids] = verdict
        return [event("verdict", "change", *ids, at=t, value=verdict, verdict=verdict, was=was,
                      why=why)]


class Session:
    """A running monitor: feeders started, then the snapshot (nothing that
    happens in between is missed); :meth:`events` streams; :meth:`close` stops."""

    def __init__(self, host: Host, udev_monitor: Callable[[], Any] = netlink_monitor,
                 source: str = "auto", kernel_socket: Callable[[], Any] | None = None) -> None:
        store = host.store()  # the root, dom0 and xenstore checks first
        self.hub = Hub()
        self.pending: deque[Event] = deque()  # read, not yet delivered (--count)
        self.failure: XendixError | None = None
        self.feeds: list[Any] = [XenstoreFeed(self.hub, store.watch([WATCH_ROOT]))]
        try:
            feed = open_uevents(self.hub, source, udev_monitor,
                                kernel_socket or uevents.open_socket)
            self.uevents = {UdevFeed: "udev", KernelFeed: "kernel"}.get(type(feed))  # None: none
            if feed is not None:
                self.feeds.append(feed)
            self.tracker = Tracker(
                store, lambda d, n: gather(store, host.disks(), host.sysfs, d, n).verdict)
            self.tracker.snapshot()
        except BaseException:
            self.close()
            raise

    def events(self, count: int | None = None, timeout: float | None = None,
               clock: Callable[[], float] = time.monotonic) -> Iterator[Event]:
        """Events as they come, until ``count`` of them or ``timeout`` seconds."""
        end = None if timeout is None else clock() + timeout
        seen = 0
        while count is None or seen < count:
            if self.pending:
                yield self.pending.popleft()
                seen += 1
                continue
            if self.failure is not None:
                raise self.failure  # a feeder's error, after what came before it
            wait = WAIT_SLICE if end is None else min(WAIT_SLICE, end - clock())
            if wait <= 0:
                return
            self._take(wait)

    def _take(self, wait: float) -> None:
        """Wait for a batch of items; their events (or a feeder's error) to deliver."""
        items = self.hub.batch(wait)
        if not items:
            self._check_feeds()
            return
        failed = next((i for i, item in enumerate(items) if item.source == "error"), None)
        if failed is not None:
            self.failure, items = items[failed].data, items[:failed]
        if items:
            self.pending.extend(self.tracker.handle(items))

    def _check_feeds(self) -> None:
        dead = [f for f in self.feeds if not f.alive()]
        if dead:
            raise XendixError(f"monitor: the {type(dead[0]).__name__} thread stopped")

    def close(self) -> None:
        for f in self.feeds:
            f.close()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run(host: Host, count: int | None, timeout: float | None,
        source: str = "auto") -> Iterator[Event]:
    """Events from xenstore and from uevents (``source``: auto, udev or kernel)."""
    with Session(host, source=source) as session:
        yield from session.events(count, timeout)
