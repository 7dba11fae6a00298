"""xendix snoop: one line per integrity failure, unprotected request and
rejected pair, as the perf buffer delivers them."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from xendix import errors
from xendix.errors import NoXenstore
from xendix.probes import snoop

from .conftest import XVDB_DEV, run
from .fakebcc import Vbd

START = datetime(2026, 5, 1, 10, 0, 0, tzinfo=timezone(timedelta(hours=2)))


@pytest.fixture(autouse=True)
def fixed_wall(monkeypatch):
    """Monotonic 0 was 10:00:00 +02:00."""
    monkeypatch.setattr(snoop, "wall_at_monotonic_zero", lambda host: START)


def polls(kernel, *steps) -> None:
    """Each step runs in one perf_buffer_poll; after the last, Ctrl-C."""
    kernel.on_poll.extend(steps)


def lines(r) -> list[list[str]]:
    return [line.split() for line in r.stdout.splitlines()[2:]]


def test_a_guard_error_on_a_write_is_one_line(kernel, host, web):
    def fire():
        kernel.clock[0] = 1.5
        kernel.error(web, "guard", sector=2048, sectors=8, write=True, id=17)

    polls(kernel, fire)
    r = run(host, "snoop")
    assert r.exit_code == errors.INTERRUPTED  # it ends only at Ctrl-C
    head, columns, *rest = r.stdout.splitlines()
    assert head == ("Tracing xen_blkback tracepoints (dix_error, dix_unprotected, dix_rejected). "
                    "Hit Ctrl-C to end.")
    assert columns.split() == ["TIME", "EVENT", "DOMAIN", "VDEV", "BACKING", "SECTOR", "SECTORS",
                               "DIR", "KIND", "STATUS"]
    assert [line.split() for line in rest] == [
        ["10:00:01.500", "error", "web", "xvdb", "sda", "2048", "8", "W", "guard", "EINTEGRITY"]]


def test_unprotected_requests_and_rejected_pairs_have_their_own_lines(kernel, host, web):
    polls(kernel, lambda: kernel.unprotected(web, sector=64, sectors=16, write=False),
          lambda: [kernel.rejected(web, "misaligned"), kernel.error(web, "app")])
    r = run(host, "snoop")
    assert [line[1:] for line in lines(r)] == [
        ["unprotected", "web", "xvdb", "sda", "64", "16", "R", "-", "OKAY"],
        ["rejected", "web", "xvdb", "sda", "-", "-", "-", "-", "ERROR:misaligned"],
        ["error", "web", "xvdb", "sda", "0", "8", "R", "app", "EINTEGRITY"]]


def test_json_lines_carry_every_field(kernel, host, web):
    polls(kernel, lambda: [kernel.error(web, "ref", sector=8, write=True, id=3),
                           kernel.rejected(web, "pi-size", id=4)])
    r = run(host, "snoop", "-j")
    assert r.stderr.startswith("Tracing xen_blkback tracepoints") and "TIME" not in r.stdout
    error, rejected = map(json.loads, r.stdout.splitlines())
    assert error == {"time": "2026-05-01T10:00:00.000000+02:00", "event": "error",
                     "domain": "web", "domid": 1, "vdev": "xvdb", "devid": 51728,
                     "backing": "sda", "dev": "8:0", "id": 3, "sector": 8, "sectors": 8,
                     "dir": "write", "dix": True, "kind": "ref", "status": -3,
                     "status_name": "EINTEGRITY", "reason": None}
    assert (rejected["event"], rejected["reason"], rejected["status_name"], rejected["sector"],
            rejected["dir"], rejected["kind"]) == ("rejected", "pi-size", "ERROR", None, None, None)


def test_a_hostile_domain_name_is_escaped(kernel, host, store, web):
    store.add_domain(1, "a b\x1b]0;pwned\x07")
    polls(kernel, lambda: kernel.error(web, "guard"))
    out = run(host, "snoop").stdout
    assert "\x1b" not in out and "\x07" not in out
    assert "a\\x20b" not in out and "a b\\x1b]0;pwned\\x07" in out


def test_lost_events_are_said_on_stderr(kernel, host, web):
    polls(kernel, lambda: kernel.lost(12))
    r = run(host, "snoop")
    assert r.stderr.strip() == "xendix: lost 12 events (the perf buffer was full)"


def test_ctrl_c_ends_it_with_130_and_no_traceback(kernel, host, web):
    r = run(host, "snoop", "-j")
    assert r.exit_code == 130 and r.stdout == "" and "Traceback" not in r.output
    assert kernel.bpf.tables["events"].callback is not None  # the perf buffer was opened


def test_ctrl_c_closes_every_cpus_perf_buffer_before_exit(kernel, host, web):
    """Left to bcc 0.26, the buffers close at interpreter exit, after bcc's
    atexit clean-up, with an "Exception ignored ... KeyError" on stderr."""
    run(host, "snoop", "-j")
    assert kernel.bpf.tables["events"].open_cpus == set()


def test_a_reused_domid_gets_its_new_name_within_seconds(kernel, host, store, web):
    def rename_later():
        store.add_domain(1, "mail")  # web died, domid 1 is mail now
        kernel.clock[0] += snoop.REFRESH_S
        kernel.error(web, "guard")

    polls(kernel, lambda: kernel.error(web, "guard"), rename_later, lambda: kernel.error(web, "guard"))
    assert [line[2] for line in lines(run(host, "snoop"))] == ["web", "web", "mail"]


def test_a_xenstored_that_stalls_while_naming_ends_it_with_one_line(kernel, host, store, web):
    def stalled(path):
        raise NoXenstore("xenstored did not answer within 5 s (/var/run/xenstored/socket)")

    def fire():
        store.read = stalled
        kernel.error(web, "guard")
        kernel.error(web, "guard")

    polls(kernel, fire)
    r = run(host, "snoop")
    assert r.exit_code == errors.NO_XENSTORE
    assert r.stderr == "xendix: xenstored did not answer within 5 s (/var/run/xenstored/socket)\n"


# -- --guest ------------------------------------------------------------------------

def test_guest_reads_blkfront_and_its_own_verify_failures(guest, host):
    xvdb = Vbd(0, 51728, XVDB_DEV)
    polls(guest, lambda: [guest.unprotected(xvdb, sector=8), guest.rejected(xvdb, "no-slot"),
                          guest.verify_failed("xvdb", sector=4096, sectors=1)])
    r = run(host, "snoop", "--guest")
    assert "Tracing xen_blkfront tracepoints (dix_error, dix_unprotected, dix_refused); " \
           "guest verify failures by kprobe+kretprobe on t10_pi_type1_verify_crc" in r.stdout
    assert [line[1:] for line in lines(r)] == [
        ["unprotected", "0", "xvdb", "xvdb", "8", "8", "W", "-", "OKAY"],
        ["rejected", "0", "xvdb", "xvdb", "0", "8", "W", "-", "ERROR:no-slot"],
        # the backend domain was learnt from xvdb's events; the vdevice is vbd-51728's
        ["verify", "0", "xvdb", "xvdb", "4096", "1", "R", "verify", "-"]]


def test_guest_verify_before_any_event_names_the_disk_and_its_vdevice(guest, host):
    polls(guest, lambda: guest.verify_failed("xvdb", sector=16))
    r = run(host, "snoop", "--guest", "--json")
    (e,) = map(json.loads, r.stdout.splitlines())
    assert (e["event"], e["kind"], e["domid"], e["domain"], e["vdev"], e["devid"], e["backing"],
            e["dev"], e["sector"]) == ("verify", "verify", None, "?", "xvdb", 51728, "xvdb",
                                       "202:16", 16)
