"""xendix monitor: blkback's DIX uevents (integrity-error, unprotected,
rejected, profile-change) as events of their vbd, from udev where udevd
runs and from the kernel's socket through pyroute2 where it does not;
hostile values are a ``malformed-uevent`` event that says why, escaped,
never a crash."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from xendix import errors, monitor as mon, uevents
from xendix.cli import main
from xendix.output import event_line

from .conftest import CTL
from .test_monitor import XVDB, store, short_slices, udev, udevd  # noqa: F401 - fixtures
from .test_uevents import FakeUeventSocket, integrity_error, kernel_uevent

VBD = f"vbd-1-{XVDB}"
IDS = {"XENDIX_DOMID": b"1", "XENDIX_DEVID": str(XVDB).encode()}


def dix(event: bytes, name: bytes = b"vbd-1-51728", **values: bytes) -> bytes:
    """blkback's uevent: XENDIX_EVENT, the vbd's ids, then ``values``."""
    return kernel_uevent(name=name, XENDIX_EVENT=event, **{**IDS, **values})


@pytest.fixture
def kernel(host, store, udevd):
    """A dom0 without udevd: the monitor reads a fake kernel uevent socket."""
    udevd.unlink()
    sock = FakeUeventSocket()
    store.add_vbd(1, XVDB, "xvdb")
    with mon.Session(host, kernel_socket=lambda: sock) as session:
        session.sock = sock
        yield session


def dix_events(session, n: int) -> list[dict]:
    got = list(session.events(count=n, timeout=5))
    assert len(got) == n, got
    return [{k: v for k, v in e.items() if k != "time"} for e in got]


def common(source: str = "kernel") -> dict:
    return {"source": source, "vbd": VBD, "domid": 1, "devid": XVDB}


# -- each event, from the kernel's socket ----------------------------------------

def test_each_dix_uevent_is_one_event_of_its_vbd(kernel):
    kernel.sock.send(integrity_error(count=b"3", kind=b"guard"),
                     dix(b"unprotected", XENDIX_COUNT=b"12"),
                     dix(b"rejected", XENDIX_COUNT=b"1"),
                     dix(b"profile-change", XENDIX_FORMAT=b"T10-DIF-TYPE1-CRC", XENDIX_COUNT=b"1"),
                     dix(b"profile-change", XENDIX_FORMAT=b"none"))
    assert kernel.uevents == "kernel"
    assert dix_events(kernel, 5) == [
        {**common(), "event": "integrity-error", "count": 3, "kind": "guard"},
        {**common(), "event": "unprotected", "count": 12},
        {**common(), "event": "rejected", "count": 1},
        {**common(), "event": "profile-change", "format": "T10-DIF-TYPE1-CRC", "count": 1},
        {**common(), "event": "profile-change", "format": "none"}]
    assert list(kernel.events(timeout=0.2)) == []


def test_the_counts_of_integrity_errors_add_up_to_dix_err(kernel):
    """One uevent per kind per second, each with the errors since the last one:
    their XENDIX_COUNT add up to blkback's dix_err, per kind too."""
    sent = [(b"guard", 3), (b"app", 1), (b"guard", 40), (b"unknown", 2), (b"ref", 7),
            (b"guard", 1)]
    kernel.sock.send(*[integrity_error(count=str(n).encode(), kind=k) for k, n in sent])
    kernel.sock.send(dix(b"unprotected", XENDIX_COUNT=b"5"))  # not an integrity error
    got = list(kernel.events(count=7, timeout=5))
    errors_ = [e for e in got if e["event"] == "integrity-error"]
    assert sum(e["count"] for e in errors_) == 54
    by_kind = {k: sum(e["count"] for e in errors_ if e["kind"] == k)
               for k in ("guard", "app", "ref", "unknown")}
    assert by_kind == {"guard": 44, "app": 1, "ref": 7, "unknown": 2}


def test_add_and_remove_from_the_kernel_are_reported_as_from_udev(kernel):
    kernel.sock.send(kernel_uevent(action=b"add", name=b"vbd-1-51744"),
                     kernel_uevent(action=b"remove", name=b"vbd-1-51744"),
                     kernel_uevent(action=b"change"))  # no XENDIX_EVENT: a plain change
    got = dix_events(kernel, 3)
    assert [(e["source"], e["event"], e["vbd"]) for e in got] == [
        ("kernel", "add", "vbd-1-51744"), ("kernel", "remove", "vbd-1-51744"),
        ("kernel", "change", VBD)]


# -- hostile bytes ------------------------------------------------------------------

MALFORMED = {
    "no XENDIX_DOMID": (kernel_uevent(XENDIX_EVENT=b"rejected", XENDIX_DEVID=b"51728",
                                      XENDIX_COUNT=b"1"), "no XENDIX_DOMID"),
    "another domain's": (dix(b"rejected", XENDIX_COUNT=b"1", XENDIX_DOMID=b"2"),
                         "XENDIX_DOMID=2 is not the device's (vbd-1-51728)"),
    "another vbd's": (dix(b"rejected", XENDIX_COUNT=b"1", XENDIX_DEVID=b"51744"),
                      "XENDIX_DEVID=51744 is not the device's (vbd-1-51728)"),
    "a padded domid": (dix(b"rejected", XENDIX_COUNT=b"1", XENDIX_DOMID=b"01"),
                       "XENDIX_DOMID=01 is not the device's (vbd-1-51728)"),
    "a count past 64 bits": (dix(b"unprotected", XENDIX_COUNT=str(2**64).encode()),
                             "XENDIX_COUNT=18446744073709551616 is not a count from 1 to 2^64-1 "
                             "in ASCII digits"),
    "a huge count": (dix(b"unprotected", XENDIX_COUNT=b"9" * 1000),
                     "XENDIX_COUNT=" + "9" * 64 + "... (1000 bytes) is not a count from 1 to "
                     "2^64-1 in ASCII digits"),
    "a count of 0": (dix(b"unprotected", XENDIX_COUNT=b"0"),
                     "XENDIX_COUNT=0 is not a count from 1 to 2^64-1 in ASCII digits"),
    "a full-width count": (dix(b"unprotected", XENDIX_COUNT="３".encode()),
                           "XENDIX_COUNT=\\xef\\xbc\\x93 is not a count from 1 to 2^64-1 in "
                           "ASCII digits"),
    "a negative count": (dix(b"unprotected", XENDIX_COUNT=b"-1"),
                         "XENDIX_COUNT=-1 is not a count from 1 to 2^64-1 in ASCII digits"),
    "no count": (dix(b"rejected"), "no XENDIX_COUNT"),
    "no kind": (dix(b"integrity-error", XENDIX_COUNT=b"1"),
                "integrity-error without a XENDIX_KIND of guard, app, ref, unknown"),
    "an unknown kind": (integrity_error(kind=b"verify\x1b[2J"),
                        "integrity-error without a XENDIX_KIND of guard, app, ref, unknown: "
                        "verify\\x1b[2J"),
    "an unknown event": (dix(b"\xffpwned\n", XENDIX_COUNT=b"1"),
                         "XENDIX_EVENT=\\xffpwned\\n is not one of integrity-error, unprotected, "
                         "rejected, profile-change"),
    "a profile without its format": (dix(b"profile-change", XENDIX_COUNT=b"1"),
                                     "profile-change without XENDIX_FORMAT"),
}


@pytest.mark.parametrize("data, why", MALFORMED.values(), ids=MALFORMED)
def test_a_malformed_dix_uevent_is_an_event_that_says_why_escaped(kernel, data, why):
    kernel.sock.send(data, integrity_error(count=b"2"))  # and the monitor goes on
    bad, good = dix_events(kernel, 2)
    assert bad == {**common(), "event": "malformed-uevent", "why": why}
    assert (good["event"], good["count"]) == ("integrity-error", 2)
    assert json.dumps(bad).isascii() and bad["why"].isprintable()


def test_odd_bytes_in_a_format_are_shown_escaped(kernel):
    kernel.sock.send(dix(b"profile-change", XENDIX_FORMAT=b"T10\xff\x1b[31m\"x\\\n" + b"A" * 80))
    (e,) = dix_events(kernel, 1)
    assert e["format"] == "T10\\xff\\x1b[31m\\x22x\\\\\\n" + "A" * 40 + "... (93 bytes)"


def test_uevents_of_other_devices_or_odd_names_are_not_events(kernel):
    kernel.sock.send(dix(b"rejected", name=b"vif-1-0", XENDIX_COUNT=b"1"),
                     dix(b"rejected", name=b"vbd-1-51728x", XENDIX_COUNT=b"1"),
                     dix(b"rejected", name=b"vbd-\xff-1", XENDIX_COUNT=b"1"),
                     kernel_uevent(subsystem=b"block", name=b"sdb", XENDIX_EVENT=b"rejected"),
                     integrity_error()[:40], b"\0" * 64, b"@" * 3000, b"\xff" * 100)
    assert list(kernel.events(timeout=0.3)) == []


# -- the same from udev --------------------------------------------------------------

class Properties(dict):
    """pyudev's Device.properties: a value is decoded as UTF-8, strictly."""

    def get(self, key, default=None):
        return default if key not in self else self[key].decode("utf-8")


def test_where_udevd_runs_the_events_come_from_udev_with_the_same_fields(host, store, udev):
    store.add_vbd(1, XVDB, "xvdb")
    props = {**IDS, "XENDIX_EVENT": b"integrity-error", "XENDIX_COUNT": b"4",
             "XENDIX_KIND": b"ref"}
    with mon.Session(host) as s:
        assert s.uevents == "udev" and udev.started.wait(5)
        udev.emit("change", VBD, properties=Properties(props))
        udev.emit("change", VBD, properties=Properties(
            {**IDS, "XENDIX_EVENT": b"profile-change", "XENDIX_FORMAT": b"T10-DIF\xff"}))
        udev.emit("change", "vbd-1-\u0665", properties=Properties(props))  # not ASCII digits
        got = dix_events(s, 2)
    assert got == [{**common("udev"), "event": "integrity-error", "count": 4, "kind": "ref"},
                   {**common("udev"), "event": "profile-change", "format": "T10-DIF\\xff"}]


# -- which source -------------------------------------------------------------------

def test_auto_reads_udev_where_udevd_runs_and_the_kernel_where_it_does_not(host, store, udev,
                                                                          udevd):
    with mon.Session(host, kernel_socket=pytest.fail) as s:
        assert s.uevents == "udev"
        assert [type(f).__name__ for f in s.feeds] == ["XenstoreFeed", "UdevFeed"]
    udevd.unlink()
    sock = FakeUeventSocket()
    with mon.Session(host, kernel_socket=lambda: sock) as s:
        assert s.uevents == "kernel"
        assert [type(f).__name__ for f in s.feeds] == ["XenstoreFeed", "KernelFeed"]
        assert udev.filters == ["xen-backend"]  # the first session's only
    assert sock.closed


def test_auto_without_a_uevent_source_watches_xenstore_alone(host, store, udevd):
    udevd.unlink()

    def no_socket():
        raise uevents.XendixError("cannot open the kernel's uevent socket: Permission denied")
    with mon.Session(host, kernel_socket=no_socket) as s:
        assert s.uevents is None
        assert [type(f).__name__ for f in s.feeds] == ["XenstoreFeed"]


def test_an_explicit_source_that_cannot_be_read_is_one_line_exit_1(host, store, udevd,
                                                                   monkeypatch):
    udevd.unlink()
    r = CliRunner().invoke(main, ["monitor", "--source", "udev", "--timeout", "1"], obj=host)
    assert (r.exit_code, r.stdout) == (errors.GENERIC, "")
    assert r.stderr == (f"xendix: monitor --source udev: udevd is not running (no {udevd}): "
                        "try --source kernel\n")
    monkeypatch.setitem(__import__("sys").modules, "pyroute2.netlink.uevent", None)
    r = CliRunner().invoke(main, ["monitor", "--source", "kernel", "--timeout", "1"], obj=host)
    assert r.exit_code == errors.GENERIC and r.stderr.count("\n") == 1
    assert r.stderr.startswith("xendix: monitor --source kernel: kernel uevents need pyroute2")


def test_source_kernel_is_read_even_where_udevd_runs(host, store, udev, monkeypatch):
    sock = FakeUeventSocket()
    monkeypatch.setattr(uevents, "open_socket", lambda: sock)
    sock.send(integrity_error(count=b"9", kind=b"app"))
    r = CliRunner().invoke(main, ["monitor", "--source", "kernel", "--json", "--count", "1",
                                  "--timeout", "10"], obj=host)
    assert r.exit_code == 0, r.output
    (line,) = [json.loads(l) for l in r.output.splitlines()]
    assert {k: v for k, v in line.items() if k != "time"} == {
        **common(), "event": "integrity-error", "count": 9, "kind": "app"}
    assert udev.filters == [] and sock.closed


def test_a_bad_source_is_a_usage_error(host):
    r = CliRunner().invoke(main, ["monitor", "--source", "netlink"], obj=host)
    assert r.exit_code == errors.USAGE


# -- text lines ---------------------------------------------------------------------

def test_a_text_line_says_the_count_kind_and_format():
    e = mon.event("kernel", "integrity-error", 1, XVDB, at="T", count=3, kind="guard")
    assert event_line(e, False) == "T kernel integrity-error vbd-1-51728 count=3 kind=guard"
    e = mon.event("udev", "profile-change", 1, XVDB, at="T", format="T10-DIF-TYPE1-CRC")
    assert event_line(e, False) == "T udev profile-change vbd-1-51728 format=T10-DIF-TYPE1-CRC"


# -- the example udev rule -------------------------------------------------------------

def test_the_example_rule_matches_blkbacks_uevents_by_the_contracts_names():
    """Each rule: a vbd's change uevent, an XENDIX_EVENT of the four, only
    XENDIX_ variables substituted; not a file `udev install` would install."""
    rules = CTL / "xendix" / "data" / "66-xendix-events.rules.example"
    lines = [l.lstrip("#") for l in rules.read_text().splitlines()
             if l.startswith(("SUBSYSTEM", "#SUBSYSTEM"))]
    assert len(lines) == 3
    for line in lines:
        assert line.startswith('SUBSYSTEM=="xen-backend", KERNEL=="vbd-*", ACTION=="change", '
                               'ENV{XENDIX_EVENT}=="')
        wanted = line.split('ENV{XENDIX_EVENT}=="')[1].split('"')[0].split("|")
        assert set(wanted) <= set(mon.DIX_EVENTS)
        used = re.findall(r"\$env\{(\w+)\}", line)
        assert used and set(used) <= set(mon.XENDIX_KEYS)
        assert line.count('"') % 2 == 0 and line.count("'") % 2 == 0
    assert not rules.name.endswith(".rules")  # package data is data/*.rules: not installed
