"""xendix exporter: the metrics as prometheus_client's own text parser reads
them, a xenstored that stalls, the HTTP server, the textfile, the command line."""

from __future__ import annotations

import os
import shlex
import socket
import threading
import urllib.request

import pytest
from click.testing import CliRunner
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from xendix import errors, exporter
from xendix.cli import main
from xendix.untrusted import show
from xendix.verdict import VERDICTS
from xendix.xenstore import TIMEOUT_ENV, PyxsStore

from .conftest import FakeStore, make_stats
from .fake_xenstored import FakeXenstored
from .test_backends import qdisk, serve
from .test_xenstore import DEADLINE, HANG, MARGIN, timed

WEB = {"domain": "web", "domid": "1"}
XVDB = {**WEB, "vdev": "xvdb", "backing": "sda"}  # DIX: sda has a T10 profile
XVDC = {**WEB, "vdev": "xvdc", "backing": "ram1"}  # plain: ram1 has none


def run(host, *args):
    return CliRunner().invoke(main, list(args), obj=host)


def parse(text: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of an exposition, read by prometheus_client's parser:
    (sample name, labels) -> value."""
    out: dict[tuple[str, frozenset], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = (s.name, frozenset(s.labels.items()))
            assert key not in out, f"duplicate series {key}"
            out[key] = s.value
    return out


def scrape(host, on_error=None) -> dict[tuple[str, frozenset], float]:
    return parse(generate_latest(exporter.registry(host, on_error)).decode())


def value(samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def series(samples, name: str) -> list[dict[str, str]]:
    return [dict(labels) for n, labels in samples if n == name]


def two_disks(store, sysfs, reads: int = 0, writes: int = 0) -> None:
    """web's xvdb (DIX, ``writes`` DIX writes and ``reads`` DIX reads) and
    xvdc (a plain disk, no I/O)."""
    store.add_vbd(1, 51728, "xvdb")
    store.add_vbd(1, 51744, "xvdc", params="/dev/ram1", phys="1:1", advertised="0")
    make_stats(sysfs, 1, 51728, rd_req=reads, wr_req=writes, dix_req=reads + writes, dix_err=1)
    make_stats(sysfs, 1, 51744)


# -- the metrics ------------------------------------------------------------------

def test_counters_are_blkbacks_exactly_per_vbd_and_0_for_the_idle_disk(host, store, sysfs):
    two_disks(store, sysfs, reads=7, writes=12)
    m = scrape(host)
    assert value(m, "xendix_vbd_dix_requests_total", **XVDB) == 19
    assert value(m, "xendix_vbd_dix_errors_total", **XVDB, kind="unknown") == 1
    assert value(m, "xendix_vbd_requests_total", **XVDB, op="read") == 7
    assert value(m, "xendix_vbd_requests_total", **XVDB, op="write") == 12
    assert value(m, "xendix_vbd_dix_requests_total", **XVDC) == 0
    assert value(m, "xendix_vbd_dix_errors_total", **XVDC, kind="unknown") == 0
    assert value(m, "xendix_vbd_requests_total", **XVDC, op="read") == 0
    assert value(m, "xendix_vbd_requests_total", **XVDC, op="write") == 0


def test_an_op_or_a_counter_blkback_does_not_have_is_left_out_not_0(host, store, sysfs):
    two_disks(store, sysfs)
    s = sysfs / "bus" / "xen-backend" / "devices" / "vbd-1-51728" / "statistics"
    (s / "f_req").write_text("3\n")
    (s / "ds_req").write_text("4\n")
    (sysfs / "bus" / "xen-backend" / "devices" / "vbd-1-51744" / "statistics" / "dix_err").unlink()
    m = scrape(host)
    assert value(m, "xendix_vbd_requests_total", **XVDB, op="flush") == 3
    assert value(m, "xendix_vbd_requests_total", **XVDB, op="discard") == 4
    assert {l["op"] for l in series(m, "xendix_vbd_requests_total") if l["vdev"] == "xvdc"} == {
        "read", "write"}
    assert [l["vdev"] for l in series(m, "xendix_vbd_dix_errors_total")] == ["xvdb"]
    assert not series(m, "xendix_vbd_unprotected_total") and not series(m, "xendix_vbd_rejected_total")


# -- PI errors by kind, unprotected and rejected requests ---------------------------

def blkback_counts(sysfs, **counters: int) -> None:
    s = sysfs / "bus" / "xen-backend" / "devices" / "vbd-1-51728" / "statistics"
    for node, n in counters.items():
        (s / node).write_text(f"{n}\n")


def errors_of(m, disk=XVDB) -> dict[str, float]:
    return {l["kind"]: value(m, "xendix_vbd_dix_errors_total", **l)
            for l in series(m, "xendix_vbd_dix_errors_total") if l["vdev"] == disk["vdev"]}


def test_pi_errors_are_split_by_kind_and_add_up_to_dix_err(host, store, sysfs):
    two_disks(store, sysfs)
    blkback_counts(sysfs, dix_err=10, dix_err_guard=4, dix_err_app=1, dix_err_ref=2)
    m = scrape(host)
    assert errors_of(m) == {"guard": 4, "app": 1, "ref": 2, "unknown": 3}
    assert sum(errors_of(m).values()) == 10
    assert {frozenset(l) for l in series(m, "xendix_vbd_dix_errors_total")} == {
        frozenset(["domain", "domid", "vdev", "backing", "kind"])}


def test_an_older_blkback_without_the_kind_files_has_every_error_unknown(host, store, sysfs):
    two_disks(store, sysfs)
    blkback_counts(sysfs, dix_err=5)
    m = scrape(host)
    assert errors_of(m) == {"unknown": 5}
    assert errors_of(m, XVDC) == {"unknown": 0}


def test_kinds_read_past_dix_err_leave_unknown_at_0_not_below(host, store, sysfs):
    """An error counted between the read of dix_err and of its kind's file."""
    two_disks(store, sysfs)
    blkback_counts(sysfs, dix_err=3, dix_err_guard=3, dix_err_app=1, dix_err_ref=0)
    assert errors_of(scrape(host)) == {"guard": 3, "app": 1, "ref": 0, "unknown": 0}


def test_unprotected_and_rejected_requests_are_counters_of_their_own(host, store, sysfs):
    two_disks(store, sysfs)
    blkback_counts(sysfs, dix_unprotected=17, dix_rejected=2)
    m = scrape(host)
    assert value(m, "xendix_vbd_unprotected_total", **XVDB) == 17
    assert value(m, "xendix_vbd_rejected_total", **XVDB) == 2
    assert [l["vdev"] for l in series(m, "xendix_vbd_unprotected_total")] == ["xvdb"]  # xvdc: none


def test_the_verdict_is_one_hot_over_every_verdict(host, store, sysfs):
    two_disks(store, sysfs)
    qdisk(store, 1, 51760, "xvdd", params="aio:/var/lib/xen/web.img")  # no dom0 disk: backing ""
    m = scrape(host)
    for disk, backend, verdict in ((XVDB, "vbd", "protected"), (XVDC, "vbd", "unsupported-disk"),
                                   ({**WEB, "vdev": "xvdd", "backing": ""}, "qdisk",
                                    "unsupported-backend")):
        got = {l["verdict"]: value(m, "xendix_vbd_verdict", **l)
               for l in series(m, "xendix_vbd_verdict") if l["vdev"] == disk["vdev"]}
        assert set(got) == set(VERDICTS)
        assert got == {v: 1.0 if v == verdict else 0.0 for v in VERDICTS}
        assert value(m, "xendix_vbd_verdict", **disk, backend=backend, verdict=verdict) == 1
    assert "xvdd" not in {l["vdev"] for l in series(m, "xendix_vbd_dix_requests_total")}


def test_a_disk_that_lost_the_advertised_profile_is_profile_changed_with_its_rejected_pairs(
        host, store, sysfs):
    store.add_vbd(1, 51728, "xvdb", params="/dev/ram1", phys="1:1")  # advertised at connect
    make_stats(sysfs, 1, 51728)
    blkback_counts(sysfs, dix_rejected=40)
    m = scrape(host)
    disk = {**WEB, "vdev": "xvdb", "backing": "ram1"}
    assert "profile-changed" in VERDICTS
    got = {l["verdict"]: value(m, "xendix_vbd_verdict", **l) for l in series(m, "xendix_vbd_verdict")}
    assert got == {v: 1.0 if v == "profile-changed" else 0.0 for v in VERDICTS}
    assert value(m, "xendix_vbd_rejected_total", **disk) == 40


def test_each_dom0_disk_has_its_integrity_format(host, store, sysfs):
    two_disks(store, sysfs)
    m = scrape(host)
    assert series(m, "xendix_disk_integrity_info") == [
        {"device": "ram1", "format": "none"}, {"device": "sda", "format": "T10-DIF-TYPE1-CRC"}]
    assert value(m, "xendix_disk_integrity_info", device="sda", format="T10-DIF-TYPE1-CRC") == 1
    assert value(m, "xendix_disk_integrity_info", device="ram1", format="none") == 1


HOSTILE = 'a"b\\c\nd\udcff\x1b[31m"} 1\nxendix_up{x="0"} 0\n# TYPE'  # \udcff: the byte 0xff as read


def test_a_hostile_domain_name_round_trips_through_the_parser(host, store, sysfs):
    store.add_domain(1, HOSTILE)
    two_disks(store, sysfs, writes=2)
    text = generate_latest(exporter.registry(host)).decode()
    m = parse(text)
    assert show(HOSTILE) == ('a\\x22b\\\\c\\nd\\xff\\x1b[31m\\x22} 1\\nxendix_up{x=\\x220\\x22} 0\\n# TYP'
                            '... (43 bytes)')
    shown = {**XVDB, "domain": show(HOSTILE)}
    assert value(m, "xendix_vbd_dix_requests_total", **shown) == 2
    assert value(m, "xendix_vbd_verdict", **shown, backend="vbd", verdict="protected") == 1
    assert [k for k in m if k[0] == "xendix_up"] == [("xendix_up", frozenset())]
    assert value(m, "xendix_up") == 1
    assert all(line.startswith(("# HELP xendix_", "# TYPE xendix_", "xendix_"))
               for line in text.splitlines())
    assert text.isascii()


def test_series_a_driver_domain_makes_alike_are_one_not_a_failed_scrape(host, store):
    store.add_domain(3, "storage")
    serve(store, 1, 51728, "xvdb", backend_domid=3)
    serve(store, 1, 51744, "xvdb", backend_domid=3)  # its own `dev` node: any name it likes
    m = scrape(host)  # parse() fails on a duplicate series, as Prometheus would
    assert len(series(m, "xendix_vbd_verdict")) == len(VERDICTS)
    assert {l["backend"] for l in series(m, "xendix_vbd_verdict")} == {"vbd@3"}


# -- a xenstored that fails ---------------------------------------------------------

@pytest.fixture
def xenstored(tmp_path, monkeypatch, sysfs):
    """A xenstored on the wire with web's xvdb, and a deadline of DEADLINE."""
    fake = FakeStore()
    fake.add_domain(0, "Domain-0")
    fake.add_domain(1, "web")
    fake.add_vbd(1, 51728, "xvdb")
    make_stats(sysfs, 1, 51728, wr_req=3, dix_req=3)
    with FakeXenstored(tmp_path / "xs", fake.nodes) as daemon:
        monkeypatch.setenv("XENSTORED_PATH", daemon.path)
        monkeypatch.setenv(TIMEOUT_ENV, str(DEADLINE))
        yield daemon


def connected(host) -> None:
    """host on the fake xenstored, as the command is when it starts: one
    answered call, so that xenstored has accepted the connection."""
    host.connect = PyxsStore
    assert host.store().read("/local/domain/1/name") == "web"


def test_a_stalled_xenstored_gives_the_error_metric_at_the_deadline_then_recovers(host, xenstored):
    connected(host)
    heard: list[str] = []
    reg = exporter.registry(host, heard.append)
    xenstored.fault = "stall"
    text, took = timed(lambda: generate_latest(reg).decode())
    assert DEADLINE <= took < DEADLINE + MARGIN
    m = parse(text)
    assert (value(m, "xendix_up"), value(m, "xendix_scrape_errors_total")) == (0, 1)
    assert not [k for k in m if k[0].startswith(("xendix_vbd_", "xendix_disk_"))]
    assert heard == [f"xenstored did not answer within {DEADLINE:g} s ({xenstored.path})"]
    xenstored.fault = None  # xenstored is back: the next scrape connects again
    m = parse(timed(lambda: generate_latest(reg).decode())[0])
    assert (value(m, "xendix_up"), value(m, "xendix_scrape_errors_total")) == (1, 1)
    assert value(m, "xendix_vbd_dix_requests_total", **XVDB) == 3


def test_a_gone_xenstored_is_a_scrape_with_up_0_not_an_error(host, xenstored):
    connected(host)
    reg = exporter.registry(host)
    xenstored.hang_up()
    os.unlink(xenstored.path)  # and it does not come back
    for errors_so_far in (1, 2):
        m = parse(timed(lambda: generate_latest(reg).decode())[0])
        assert (value(m, "xendix_up"), value(m, "xendix_scrape_errors_total")) == (0, errors_so_far)


# -- --listen -----------------------------------------------------------------------

def test_the_http_server_answers_a_scrape_with_the_metrics(host, store, sysfs):
    two_disks(store, sysfs, reads=1, writes=4)
    server = exporter.listen(host, "127.0.0.1", 0)
    thread = threading.Thread(target=exporter.serve, args=(server,), daemon=True)
    thread.start()
    try:
        with urllib.request.urlopen(exporter.url(server), timeout=HANG) as answer:
            kind, body = answer.headers["Content-Type"], answer.read().decode()
    finally:
        server.shutdown()
        thread.join(HANG)
    assert kind.startswith("text/plain") and "version=0.0.4" in kind
    m = parse(body)
    assert value(m, "xendix_vbd_dix_requests_total", **XVDB) == 5
    assert value(m, "xendix_up") == 1
    assert not thread.is_alive()


def test_listen_then_ctrl_c_prints_the_url_exits_130_and_closes_the_port(host, monkeypatch):
    def interrupt(*_):
        raise KeyboardInterrupt
    monkeypatch.setattr(exporter._Server, "serve_forever", interrupt)
    r = run(host, "exporter", "--listen", "127.0.0.1:0")
    assert r.exit_code == errors.INTERRUPTED and "Traceback" not in r.output
    url = r.stdout.strip().removeprefix("serving ")
    assert url.startswith("http://127.0.0.1:") and url.endswith("/metrics")
    port = int(url.split(":")[2].split("/")[0])
    assert port != 0
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=HANG)


def test_a_port_in_use_is_one_line_exit_1(host):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        r = run(host, "exporter", "--listen", f"127.0.0.1:{port}")
    finally:
        taken.close()
    assert r.exit_code == errors.GENERIC and r.stdout == ""
    assert r.stderr == f"xendix: cannot listen on http://127.0.0.1:{port}/metrics: Address already in use\n"


@pytest.mark.parametrize("text, parsed", [("127.0.0.1:9200", ("127.0.0.1", 9200)),
                                          ("[::1]:9200", ("::1", 9200)), ("[::]:0", ("::", 0)),
                                          (":9200", ("0.0.0.0", 9200)),
                                          ("localhost:65535", ("localhost", 65535))])
def test_listen_parses_addr_port(text, parsed):
    assert exporter.parse_listen(text) == parsed


LISTEN_ERRORS = {
    "no port": ("9200", "'9200' is not ADDR:PORT (e.g. 127.0.0.1:9200, [::1]:9200)"),
    "IPv6 without brackets": ("::1:9200", "put an IPv6 address in brackets: [::1]:9200"),
    "not IPv6 in brackets": ("[web]:9200", "'web' is not an IPv6 address"),
    "a port too big": ("127.0.0.1:65536",
                       "port '65536' is not a number from 0 to 65535 in ASCII digits"),
    "a full-width port": ("127.0.0.1:９２００",
                          "port '９２００' is not a number from 0 to 65535 in ASCII digits"),
    "a named port": ("127.0.0.1:http",
                     "port 'http' is not a number from 0 to 65535 in ASCII digits"),
    "a space in the host": ("my host:9200", "'my host' is not an address or a host name"),
}


@pytest.mark.parametrize("text, message", LISTEN_ERRORS.values(), ids=LISTEN_ERRORS)
def test_a_malformed_listen_is_a_one_line_usage_error_before_anything_else(host, text, message):
    host.euid = lambda: 1000
    host.connect = lambda: pytest.fail("xenstore was reached")
    r = run(host, "exporter", "--listen", text)
    assert (r.exit_code, r.stdout) == (errors.USAGE, "")
    assert r.stderr == f"xendix: invalid value for '--listen': {message}\n"


ARG_ERRORS = {
    "neither": ([], "give --listen ADDR:PORT or --textfile DIR (one of them)"),
    "both": (["--listen", ":9200", "--textfile", "/tmp"],
             "give --listen ADDR:PORT or --textfile DIR (one of them)"),
    "--interval without --textfile": (["--listen", ":9200", "--interval", "5"],
                                      "--interval is for --textfile: a scrape reads at each request"),
    "--interval 0": (["--textfile", "/tmp", "--interval", "0"],
                     "invalid value for '--interval': 0.0 is not in the range x>0"),
    "--interval nan": (["--textfile", "/tmp", "--interval", "nan"],
                       "invalid value for '--interval': 'nan' is not a number of seconds "
                       "(ASCII digits, maybe a point)"),
}


@pytest.mark.parametrize("args, message", ARG_ERRORS.values(), ids=ARG_ERRORS)
def test_the_options_together_are_checked_before_root(host, args, message):
    host.euid = lambda: 1000
    host.connect = lambda: pytest.fail("xenstore was reached")
    r = run(host, "exporter", *args)
    assert (r.exit_code, r.stdout, r.stderr) == (errors.USAGE, "", f"xendix: {message}\n")


def test_root_dom0_and_xenstored_come_first_as_for_every_command(host, proc, tmp_path):
    host.euid = lambda: 1000
    assert run(host, "exporter", "--textfile", str(tmp_path)).exit_code == errors.NOT_ROOT
    host.euid = lambda: 0
    (proc / "xen" / "capabilities").write_text("\n")
    assert run(host, "exporter", "--textfile", str(tmp_path)).exit_code == errors.NOT_DOM0
    (proc / "xen" / "capabilities").write_text("control_d\n")
    host.connect = lambda: PyxsStore(str(tmp_path / "no-xenstored"))
    r = run(host, "exporter", "--textfile", str(tmp_path))
    assert (r.exit_code, r.stderr.count("\n")) == (errors.NO_XENSTORE, 1)
    assert not (tmp_path / "xendix.prom").exists()


# -- --textfile ---------------------------------------------------------------------

def test_textfile_writes_the_metrics_once_and_leaves_no_temporary_file(host, store, sysfs, tmp_path):
    two_disks(store, sysfs, writes=6)
    out = tmp_path / "textfile"
    out.mkdir()
    r = run(host, "exporter", "--textfile", str(out))
    assert (r.exit_code, r.stdout) == (0, f"wrote {out / 'xendix.prom'}\n")
    assert [p.name for p in out.iterdir()] == ["xendix.prom"]
    m = parse((out / "xendix.prom").read_text())
    assert value(m, "xendix_vbd_dix_requests_total", **XVDB) == 6


def test_textfile_with_interval_writes_it_again_on_schedule_until_ctrl_c(host, store, sysfs,
                                                                             tmp_path):
    two_disks(store, sysfs)
    slept: list[float] = []
    host.clock = lambda: sum(slept) + 2 * len(slept)  # each sleep lasts 2 s too long
    dix_req = sysfs / "bus" / "xen-backend" / "devices" / "vbd-1-51728" / "statistics" / "dix_req"

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        dix_req.write_text(f"{len(slept) * 100}\n")  # I/O while it waits
        if len(slept) == 3:
            raise KeyboardInterrupt

    host.sleep = sleep
    r = run(host, "exporter", "--textfile", str(tmp_path), "--interval", "60")
    assert r.exit_code == errors.INTERRUPTED and "Traceback" not in r.output
    assert r.stdout == f"writing {tmp_path / 'xendix.prom'} every 60 s\n"
    assert slept == [60, 58, 58]  # every 60 s from the start, not 60 s after each write
    m = parse((tmp_path / "xendix.prom").read_text())
    assert value(m, "xendix_vbd_dix_requests_total", **XVDB) == 200  # the third write's


def test_textfile_keeps_writing_while_xenstored_is_gone(host, xenstored, tmp_path):
    connected(host)
    xenstored.hang_up()
    heard: list[str] = []
    timed(lambda: exporter.textfile(host, tmp_path, None, heard.append))
    m = parse((tmp_path / "xendix.prom").read_text())
    assert (value(m, "xendix_up"), value(m, "xendix_scrape_errors_total")) == (0, 1)
    assert heard == [f"xenstored closed the connection ({xenstored.path})"]


def test_a_textfile_directory_that_is_not_there_is_one_line_exit_1(host, tmp_path):
    r = run(host, "exporter", "--textfile", str(tmp_path / "gone"))
    assert r.exit_code == errors.GENERIC and r.stdout == ""
    assert r.stderr == (f"xendix: cannot write {tmp_path / 'gone' / 'xendix.prom'}: "
                        "No such file or directory\n")


# -- --help ---------------------------------------------------------------------------

def test_the_help_ends_with_examples_that_parse(host):
    out = run(host, "exporter", "--help").stdout
    examples = out.split("Examples:\n\n")[1].splitlines()
    assert len(examples) == 4 and all(line.startswith("    xendix exporter ") for line in examples)
    command = main.commands["exporter"]
    for line in examples:
        with command.make_context("exporter", shlex.split(line)[2:]) as ctx:
            command.check(ctx.params)
