"""xendix monitor: vbd add/remove and state changes as lines or JSON lines."""

import json

from click.testing import CliRunner

from xendix import monitor as mon
from xendix.cli import main

from .conftest import BE


def test_xenstore_changes_become_add_state_node_and_remove_events(store):
    src = mon.XenstoreSource(store)
    be = store.add_vbd(1, 51728, "xvdb", be_state=2, fe_state=1, advertised=None, negotiated=None)
    store._land(f"{be}/state", "2")
    assert [(e["event"], e.get("value")) for e in src.poll(0)] == [("add", None), ("state", "2")]
    store._land(f"{be}/state", "4")
    (e,) = src.poll(0)
    assert (e["event"], e["vbd"], e["state_name"]) == ("state", "vbd-1-51728", "Connected")
    store._land(f"{be}/feature-data-integrity", "1")
    (e,) = src.poll(0)
    assert (e["event"], e["node"], e["value"]) == ("node", "feature-data-integrity", "1")
    store._land(f"{be}/state", "4")  # unchanged: no event
    assert src.poll(0) == []
    store._land(f"{be}/params", "/dev/sdb")  # not a watched node
    assert src.poll(0) == []
    store.rm(be)
    (e,) = src.poll(0)
    assert (e["event"], e["domid"], e["devid"]) == ("remove", 1, 51728)
    assert src.poll(0) == []


def test_vbds_present_at_start_are_not_announced(store):
    store.add_vbd(1, 51728, "xvdb")
    src = mon.XenstoreSource(store)
    store._land(f"{BE}/1/51728/state", "4")
    assert src.poll(0) == []


class Scripted:
    def __init__(self, batches):
        self.batches = list(batches)

    def poll(self, timeout):
        return self.batches.pop(0) if self.batches else []

    def close(self):
        pass


def test_the_stream_stops_at_count():
    a = Scripted([[mon.event("udev", "add", 1, 51728)], [mon.event("udev", "remove", 1, 51728)]])
    b = Scripted([[mon.event("xenstore", "add", 1, 51728)]])
    got = list(mon.stream([a, b], count=2, timeout=None))
    assert [(e["source"], e["event"]) for e in got] == [("udev", "add"), ("xenstore", "add")]


def test_the_stream_stops_at_its_timeout():
    t = [0.0]

    def clock():
        t[0] += 1.0
        return t[0]

    assert list(mon.stream([Scripted([])], count=None, timeout=5, clock=clock)) == []


def test_monitor_prints_json_lines(host, store, monkeypatch):
    monkeypatch.setattr(mon, "UdevSource", lambda: (_ for _ in ()).throw(OSError("no libudev")))

    def later():
        be = store.add_vbd(1, 51728, "xvdb")
        store._land(f"{be}/state", "4")
    store.on_idle.append(later)
    r = CliRunner().invoke(main, ["monitor", "--json", "--count", "2"], obj=host)
    assert r.exit_code == 0, r.output
    lines = [json.loads(l) for l in r.output.splitlines()]
    assert [(l["event"], l["vbd"]) for l in lines] == [("add", "vbd-1-51728"), ("state", "vbd-1-51728")]


def test_a_text_line_names_source_event_and_vbd():
    from xendix.output import event_line
    e = mon.event("xenstore", "state", 1, 51728, node="state", value="4", state_name="Connected")
    e["time"] = "T"
    assert event_line(e, False) == "T xenstore state vbd-1-51728 node=state value=4 state_name=Connected"
