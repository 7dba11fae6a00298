"""xendix dixlat: submit -> complete latency histograms per vbd, DIX and
plain apart, printed by bcc's print_log2_hist or as JSON lines."""

from __future__ import annotations

import json
import re

from xendix.probes import hist

from .conftest import SDA, XVDB_DEV, run
from .fakebcc import Vbd

US = 1e-6


def sections(out: str) -> dict[str, dict[str, int]]:
    """bcc's text: 'vbd = TITLE' -> {'LOW -> HIGH': count}."""
    found: dict[str, dict[str, int]] = {}
    current = None
    for line in out.splitlines():
        if line.startswith("vbd = "):
            current = found.setdefault(line[len("vbd = "):], {})
        m = re.match(r"\s*(\d+) -> (\d+)\s*: (\d+)", line)
        if m and current is not None:
            current[f"{m[1]} -> {m[2]}"] = int(m[3])
    return found


def test_dix_and_plain_requests_have_their_own_histogram(kernel, host, web):
    def interval():
        kernel.io(web, 1, 100 * US, dix=True)  # 100 us: 64 -> 127
        kernel.io(web, 2, 120 * US, dix=True)
        kernel.io(web, 3, 3000 * US, dix=False)  # 3 ms: 2048 -> 4095

    kernel.intervals.append(interval)
    r = run(host, "dixlat", "1", "1")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[0] == ("Tracing xen_blkback tracepoints (rq_submit, rq_complete). "
                                        "Hit Ctrl-C to end.")
    got = sections(r.stdout)
    assert list(got) == ["web xvdb (sda) dix", "web xvdb (sda) plain"]  # DIX first
    assert {k: n for k, n in got["web xvdb (sda) dix"].items() if n} == {"64 -> 127": 2}
    assert {k: n for k, n in got["web xvdb (sda) plain"].items() if n} == {"2048 -> 4095": 1}
    assert kernel.bpf.tables["dist"].hist_calls == [("usecs", "vbd")]  # bcc printed them


def test_json_is_one_line_per_vbd_and_kind_with_bccs_slots(kernel, host, web):
    kernel.intervals.append(lambda: [kernel.io(web, 1, 5 * US, dix=True),
                                     kernel.io(web, 2, 0, dix=False)])
    r = run(host, "dixlat", "-j", "1", "1")
    assert r.stderr.startswith("Tracing") and r.exit_code == 0
    dix, plain = map(json.loads, r.stdout.splitlines())
    assert {k: dix[k] for k in dix if k != "time"} == {
        "domain": "web", "domid": 1, "vdev": "xvdb", "devid": 51728, "backing": "sda",
        "dix": True, "unit": "usecs", "count": 1,
        "buckets": [{"low": 0, "high": 1, "count": 0}, {"low": 2, "high": 3, "count": 0},
                    {"low": 4, "high": 7, "count": 1}]}
    assert plain["dix"] is False and plain["buckets"] == [{"low": 0, "high": 1, "count": 1}]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d", dix["time"])


def test_each_interval_has_its_own_histograms(kernel, host, web):
    kernel.intervals += [lambda: kernel.io(web, 1, 100 * US, dix=True), lambda: None,
                         lambda: kernel.io(web, 1, 100 * US, dix=True)]
    out = run(host, "dixlat", "-j", "1", "3").stdout.splitlines()
    assert [json.loads(line)["count"] for line in out] == [1, 1]  # interval 2 printed nothing


def test_without_an_interval_it_prints_once_at_ctrl_c_and_exits_130(kernel, host, web):
    def io_then_ctrl_c():
        kernel.io(web, 7, 100 * US, dix=True)
        raise KeyboardInterrupt

    kernel.intervals.append(io_then_ctrl_c)
    r = run(host, "dixlat")
    assert r.exit_code == 130 and "Traceback" not in r.output and "Aborted" not in r.output
    assert sections(r.stdout)["web xvdb (sda) dix"]["64 -> 127"] == 1


def test_the_same_id_in_flight_on_two_rings_is_told_apart_by_its_sector(kernel, host, web):
    def interval():
        kernel.submit(web, 5, sector=0, dix=True)  # ring 0, id 5
        kernel.submit(web, 5, sector=4096, dix=True)  # ring 1, id 5 too
        kernel.clock[0] += 100 * US
        kernel.complete(web, 5, sector=4096, dix=True)
        kernel.clock[0] += 3000 * US
        kernel.complete(web, 5, sector=0, dix=True)

    kernel.intervals.append(interval)
    got = sections(run(host, "dixlat", "1", "1").stdout)["web xvdb (sda) dix"]
    assert {k: n for k, n in got.items() if n} == {"64 -> 127": 1, "2048 -> 4095": 1}


def test_a_request_submitted_before_the_start_is_not_counted(kernel, host, web):
    kernel.intervals.append(lambda: kernel.complete(web, 9, dix=True))
    assert sections(run(host, "dixlat", "1", "1").stdout) == {}


def test_the_vbd_key_packs_domid_handle_and_dix_for_bccs_sections():
    for domid, handle, dix in ((0, 0, False), (32767, (1 << 28) | (5 << 8) | 3, True),
                               (1, 51728, True)):
        assert hist.unpack(hist.pack(domid, handle, dix)) == (domid, handle, dix)
    assert hist.slot_range(1) == (0, 1) and hist.slot_range(7) == (64, 127)


def test_guest_histograms_name_the_xvd_disk(guest, host):
    xvdb = Vbd(0, 51728, XVDB_DEV)
    guest.intervals.append(lambda: guest.io(xvdb, 1, 100 * US, dix=True))
    r = run(host, "dixlat", "--guest", "1", "1")
    assert "Tracing xen_blkfront tracepoints (rq_submit, rq_complete)" in r.stdout
    assert list(sections(r.stdout)) == ["0 xvdb (xvdb) dix"]
    assert SDA != XVDB_DEV
