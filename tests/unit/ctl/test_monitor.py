"""xendix monitor: one wait on udev and xenstore together, both ends of each
vbd, verdict changes, zone-aware timestamps; nothing lost between two looks."""

from __future__ import annotations

import json
import os
import queue
import select
import threading
import time
from datetime import datetime
from types import SimpleNamespace

import pytest
import pyudev
from click.testing import CliRunner

from xendix import monitor as mon
from xendix.cli import main
from xendix.errors import NO_XENSTORE, NoXenstore

from .conftest import BE, FakeStore

XVDB = 51728
FE = f"/local/domain/1/device/vbd/{XVDB}"


class QueueWatch:
    """A watch as xenstored gives it: one event per write, the first at once
    for each watched path; ``get`` blocks up to its timeout."""

    def __init__(self, store: "LockedStore", paths: list[str]) -> None:
        self.store, self.paths, self.events = store, paths, queue.Queue()
        for p in paths:
            self.events.put(p)

    def notify(self, path: str) -> None:
        if any(path == p or path.startswith(p + "/") for p in self.paths):
            self.events.put(path)

    def get(self, timeout: float) -> str | None:
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        with self.store.lock:
            self.store.watches.remove(self)


class LockedStore(FakeStore):
    """The dict-backed store, safe to write from a test's thread while the
    monitor reads; watches block like pyxs's."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.RLock()

    def read(self, path):
        with self.lock:
            return super().read(path)

    def list(self, path):
        with self.lock:
            return super().list(path)

    def _land(self, path, value):
        with self.lock:
            super()._land(path, value)

    def watch(self, paths):
        with self.lock:
            w = QueueWatch(self, paths)
            self.watches.append(w)
            return w

    def publish(self, domid: int, devid: int, vdev: str, **kw) -> str:
        """add_vbd as libxl's transaction lands: every new node, each watch told."""
        with self.lock:
            before = set(self.nodes)
            be = self.add_vbd(domid, devid, vdev, **kw)
            for path in [p for p in self.nodes if p not in before]:
                for w in list(self.watches):
                    w.notify(path)
            return be


class FakeMonitor:
    """A pyudev Monitor: a pipe for its netlink socket, so pyudev's
    MonitorObserver selects on it as on the real one."""

    def __init__(self) -> None:
        self.r, self.w = os.pipe()
        self.devices: queue.Queue = queue.Queue()
        self.filters: list[str] = []
        self.started = threading.Event()

    def filter_by(self, subsystem, device_type=None):
        self.filters.append(subsystem)

    def start(self):
        self.started.set()

    def fileno(self):
        return self.r

    def emit(self, action: str, sys_name: str, subsystem: str = "xen-backend",
             properties=None) -> None:
        if subsystem in self.filters:
            self.devices.put(SimpleNamespace(action=action, sys_name=sys_name, subsystem=subsystem,
                                             properties=properties))
            os.write(self.w, b".")

    def poll(self, timeout=None):
        if not select.select([self.r], [], [], timeout)[0]:
            return None
        os.read(self.r, 1)
        return self.devices.get_nowait()

    def close(self):
        os.close(self.r)
        os.close(self.w)


@pytest.fixture(autouse=True)
def short_slices(monkeypatch):
    """Internal waits of 50 ms: closing a session does not wait half a second."""
    monkeypatch.setattr(mon, "WAIT_SLICE", 0.05)


@pytest.fixture(autouse=True)
def udevd(monkeypatch, tmp_path):
    """udevd runs (its control socket is there), whatever the machine running the tests has."""
    control = tmp_path / "udev-control"
    control.touch()
    monkeypatch.setattr(mon, "UDEV_CONTROL", control)
    return control


@pytest.fixture
def store() -> LockedStore:
    s = LockedStore()
    s.add_domain(0, "Domain-0")
    s.add_domain(1, "web")
    return s


@pytest.fixture
def udev(monkeypatch):
    """pyudev's netlink monitor replaced by a FakeMonitor (pyudev itself runs)."""
    fake = FakeMonitor()
    monkeypatch.setattr(pyudev, "Context", lambda: object())
    monkeypatch.setattr(pyudev.Monitor, "from_netlink", lambda context, source="udev": fake)
    yield fake
    fake.close()


def until(events, done, timeout: float = 5.0) -> list[dict]:
    """Events until ``done(got)`` holds; the generator is closed after."""
    got: list[dict] = []
    end = time.monotonic() + timeout
    for e in events:
        got.append(e)
        if done(got) or time.monotonic() > end:
            break
    events.close()
    return got


def kinds(got, vbd=f"vbd-1-{XVDB}"):
    return [(e["source"], e["event"]) for e in got if e["vbd"] == vbd]


def when_ready(udev: FakeMonitor, action) -> threading.Thread:
    """Run ``action`` in a thread once the monitor waits (its udev monitor started)."""
    def go():
        assert udev.started.wait(5)
        time.sleep(0.05)
        action()
    t = threading.Thread(target=go)
    t.start()
    return t


# -- what xenstore changes mean ---------------------------------------------

def test_xenstore_changes_become_add_state_node_and_remove_events(host, store, udev):
    with mon.Session(host) as s:
        be = store.publish(1, XVDB, "xvdb", be_state=2, fe_state=1, advertised=None,
                           negotiated=None, confirmed=None)
        got = list(s.events(count=5, timeout=5))
        assert [(e["event"], e.get("node"), e.get("value")) for e in got] == [
            ("add", None, None), ("state", "backend/state", "2"),
            ("node", "backend/physical-device", "8:0"), ("state", "frontend/state", "1"),
            ("change", None, "not-connected")]
        assert got[0]["frontend"] == FE and got[1]["state_name"] == "InitWait"
        store._land(f"{be}/state", "4")
        (e,) = s.events(count=1, timeout=5)
        assert (e["event"], e["vbd"], e["state_name"], e["end"]) == ("state", "vbd-1-51728", "Connected", "backend")
        store._land(f"{be}/feature-data-integrity", "1")
        (e,) = s.events(count=1, timeout=5)
        assert (e["event"], e["node"], e["value"]) == ("node", "backend/feature-data-integrity", "1")
        store._land(f"{be}/state", "4")  # rewritten, unchanged: no event
        store._land(f"{be}/params", "/dev/sdb")  # not a watched node
        assert list(s.events(timeout=0.3)) == []
        store.rm(be)
        (e,) = s.events(count=1, timeout=5)
        assert (e["source"], e["event"], e["domid"], e["devid"]) == ("xenstore", "remove", 1, XVDB)
        assert list(s.events(timeout=0.3)) == []


def test_vbds_present_at_start_are_not_announced(host, store, udev):
    store.add_vbd(1, XVDB, "xvdb")
    with mon.Session(host) as s:
        store._land(f"{BE}/1/{XVDB}/state", "4")
        store._land(f"{FE}/state", "4")
        assert list(s.events(timeout=0.3)) == []


def test_a_closing_state_that_lasted_between_two_writes_is_reported(host, store, udev):
    """blkback's Closing, 150 ms before Closed: the monitor reads it while it
    is there, whatever udev is doing."""
    be = store.add_vbd(1, XVDB, "xvdb")

    def close():
        store._land(f"{be}/state", "5")
        time.sleep(0.15)
        store._land(f"{be}/state", "6")
    t = when_ready(udev, close)
    got = until(mon.run(host, None, 5), lambda g: any(e.get("value") == "6" for e in g))
    t.join()
    states = [(e["value"], e["state_name"]) for e in got if e["event"] == "state"]
    assert states == [("5", "Closing"), ("6", "Closed")]


def test_a_vbd_added_and_removed_at_once_is_reported_added_and_removed(host, store, udev):
    """Gone before the monitor looked: its add and its remove, from both sources."""
    def flash():
        with store.lock:  # one instant for the monitor
            be = store.publish(1, XVDB, "xvdb")
            store.rm(FE)
            store.rm(be)
        udev.emit("add", f"vbd-1-{XVDB}")
        udev.emit("remove", f"vbd-1-{XVDB}")
    t = when_ready(udev, flash)
    got = until(mon.run(host, None, 5), lambda g: len(kinds(g)) >= 4)
    t.join()
    seen = kinds(got)
    assert sorted(seen) == [("udev", "add"), ("udev", "remove"), ("xenstore", "add"), ("xenstore", "remove")]
    assert seen.index(("xenstore", "add")) < seen.index(("xenstore", "remove"))
    assert seen.index(("udev", "add")) < seen.index(("udev", "remove"))


def test_the_frontend_nodes_are_watched_and_shown_escaped(host, store, udev):
    store.add_vbd(1, XVDB, "xvdb", negotiated="1", confirmed=None)
    with mon.Session(host) as s:
        store._land(f"{FE}/data-integrity-format", "\x1b[31mT10")  # guest-written
        got = list(s.events(count=1, timeout=5))
        assert [(e["end"], e["node"], e["path"], e["value"]) for e in got] == [
            ("frontend", "frontend/data-integrity-format", f"{FE}/data-integrity-format", "\\x1b[31mT10")]
        store._land(f"{FE}/state", "5")
        (e, _) = s.events(count=2, timeout=5)
        assert (e["node"], e["value"], e["state_name"]) == ("frontend/state", "5", "Closing")


def test_a_verdict_change_is_reported_with_what_it_was_and_why(host, store, udev):
    store.add_vbd(1, XVDB, "xvdb", negotiated="1", confirmed=None)  # unconfirmed
    with mon.Session(host) as s:
        store._land(f"{FE}/data-integrity-format", "T10-DIF-TYPE1-CRC")
        node, verdict = s.events(count=2, timeout=5)
        assert node["node"] == "frontend/data-integrity-format"
        assert (verdict["source"], verdict["event"], verdict["value"], verdict["was"]) == (
            "verdict", "change", "protected", "unconfirmed")
        assert "confirmed T10-DIF-TYPE1-CRC" in verdict["why"]
        store._land(f"{BE}/1/{XVDB}/data-integrity-enable", "0")  # off at the next connect only
        assert [e["event"] for e in s.events(timeout=0.3)] == ["node"]


def test_every_timestamp_has_a_zone(host, store, udev):
    with mon.Session(host) as s:
        store.publish(1, XVDB, "xvdb")
        udev.emit("add", f"vbd-1-{XVDB}")
        got = until(s.events(timeout=5), lambda g: ("udev", "add") in kinds(g))
    assert len(got) > 3
    for e in got:
        t = datetime.fromisoformat(e["time"])
        assert t.utcoffset() is not None, e["time"]
        assert abs(t.timestamp() - time.time()) < 60


# -- udev, through pyudev's MonitorObserver ----------------------------------

def test_udev_events_of_vbd_backends_are_reported(host, store, udev):
    store.add_vbd(1, XVDB, "xvdb")
    with mon.Session(host) as s:
        assert udev.filters == ["xen-backend"] and udev.started.wait(5)
        udev.emit("add", "vif-1-0")  # another xen-backend device: not a vbd
        udev.emit("add", "sdz", subsystem="block")  # filtered out by udev
        udev.emit("change", f"vbd-1-{XVDB}")
        (e,) = s.events(count=1, timeout=5)
        assert (e["source"], e["event"], e["vbd"]) == ("udev", "change", f"vbd-1-{XVDB}")
        assert list(s.events(timeout=0.3)) == []


def test_without_udev_xenstore_alone_is_watched(host, store, monkeypatch):
    def no_udev(context, source="udev"):
        raise OSError("no udevd")
    monkeypatch.setattr(pyudev.Monitor, "from_netlink", no_udev)
    with mon.Session(host) as s:
        assert [type(f).__name__ for f in s.feeds] == ["XenstoreFeed"]
        store.publish(1, XVDB, "xvdb")
        assert kinds(s.events(count=1, timeout=5)) == [("xenstore", "add")]


# -- bounds, the command line ------------------------------------------------

def test_the_stream_stops_at_count_and_at_its_timeout(host, store, udev):
    with mon.Session(host) as s:
        for _ in range(3):
            udev.emit("change", f"vbd-1-{XVDB}")
        assert len(list(s.events(count=2, timeout=5))) == 2
        start = time.monotonic()
        assert len(list(s.events(timeout=0.4))) == 1
        assert 0.3 < time.monotonic() - start < 2


def test_monitor_prints_zone_stamped_json_lines(host, store, udev):
    t = when_ready(udev, lambda: udev.emit("add", f"vbd-1-{XVDB}"))
    r = CliRunner().invoke(main, ["monitor", "--json", "--count", "1", "--timeout", "10"], obj=host)
    t.join()
    assert r.exit_code == 0, r.output
    (line,) = [json.loads(l) for l in r.output.splitlines()]
    assert (line["source"], line["event"], line["vbd"]) == ("udev", "add", f"vbd-1-{XVDB}")
    assert datetime.fromisoformat(line["time"]).utcoffset() is not None


def test_a_lost_xenstored_ends_the_monitor_in_one_line(host, store, udev, monkeypatch):
    class Broken(QueueWatch):
        def get(self, timeout):
            raise NoXenstore("xenstored closed the connection (/run/xenstored/socket)")

        def close(self):
            pass
    monkeypatch.setattr(store, "watch", lambda paths: Broken(store, paths))
    r = CliRunner().invoke(main, ["monitor", "--timeout", "10"], obj=host)
    assert r.exit_code == NO_XENSTORE
    assert r.output == "xendix: xenstored closed the connection (/run/xenstored/socket)\n"


def test_a_text_line_names_source_event_and_vbd():
    from xendix.output import event_line
    e = mon.event("xenstore", "state", 1, XVDB, node="backend/state", value="4", state_name="Connected")
    e["time"] = "T"
    assert event_line(e, False) == "T xenstore state vbd-1-51728 node=backend/state value=4 state_name=Connected"
