"""xendix top: what one interval of blkback's (or blkfront's) events shows."""

from __future__ import annotations

import json

from xendix import errors

from .conftest import KALLSYMS_612, SDA, XVDB_DEV, kallsyms, run
from .fakebcc import Vbd, dev_t


def rows(output: str) -> dict[str, dict[str, str]]:
    """The table rows of top's text output, by VDEV, as column -> cell."""
    lines = output.splitlines()
    out = {}
    for i, line in enumerate(lines):
        if line.startswith("DOMAIN"):
            head = line.split()
            for row in lines[i + 1:]:
                if not row.strip() or " interval " in row:
                    break
                cells = dict(zip(head, row.split()))
                out[cells["VDEV"]] = cells
    return out


def test_three_dix_writes_of_8_sectors_in_one_second(kernel, host, web):
    kernel.intervals.append(lambda: [kernel.complete(web, sectors=8, write=True, dix=True)
                                     for _ in range(3)])
    r = run(host, "top", "-C", "1", "1")
    assert r.exit_code == 0, r.output
    row = rows(r.stdout)["xvdb"]
    assert (row["DOMAIN"], row["BACKING"]) == ("web", "sda")
    assert row["DIX/s"] == "3.0" and row["KB/s"] == "12.0"
    # 512-byte intervals, 8-byte tuples: 8 PI bytes per 512 data bytes
    assert row["%PI-bytes"] == "1.56"
    assert row["UNPROT/s"] == row["REJ/s"] == row["ERR/s"] == "0.0"


def test_rates_are_per_second_of_the_interval(kernel, host, web):
    kernel.intervals.append(lambda: [kernel.complete(web, sectors=8, dix=True) for _ in range(3)])
    row = rows(run(host, "top", "-C", "2", "1").stdout)["xvdb"]
    assert row["DIX/s"] == "1.5" and row["KB/s"] == "6.0"


def test_plain_requests_count_in_kb_but_not_in_dix_or_pi(kernel, host, web):
    def interval():
        kernel.complete(web, sectors=8, dix=True)
        kernel.complete(web, sectors=8, dix=False)

    kernel.intervals.append(interval)
    row = rows(run(host, "top", "-C", "1", "1").stdout)["xvdb"]
    assert row["DIX/s"] == "1.0" and row["KB/s"] == "8.0" and row["%PI-bytes"] == "0.78"


def test_errors_by_kind_unprotected_and_rejected(kernel, host, web):
    def interval():
        for kind in ("guard", "guard", "ref", "unknown"):
            kernel.error(web, kind)
        kernel.unprotected(web)
        kernel.rejected(web, "misaligned")

    kernel.intervals.append(interval)
    row = rows(run(host, "top", "-C", "1", "1").stdout)["xvdb"]
    assert row["ERR/s"] == "4.0"
    assert (row["GUARD/s"], row["APP/s"], row["REF/s"], row["UNKN/s"]) == ("2.0", "0.0", "1.0", "1.0")
    assert row["UNPROT/s"] == "1.0" and row["REJ/s"] == "1.0"
    assert "VERIFY/s" not in row  # a guest's column


def test_each_interval_starts_from_zero_and_idle_vbds_are_not_shown(kernel, host, web):
    kernel.intervals += [lambda: kernel.complete(web, dix=True), lambda: None]
    screens = run(host, "top", "-C", "1", "2").stdout.split("interval 1.0 s")
    assert len(screens) == 3
    assert "xvdb" in screens[1] and "xvdb" not in screens[2] and "0 vbds" in screens[1] + screens[2]


def test_the_header_says_tracepoints_were_used(kernel, host, web):
    out = run(host, "top", "-C", "1", "1").stdout
    assert out.splitlines()[0] == ("Tracing xen_blkback tracepoints (rq_complete, dix_error, "
                                   "dix_unprotected, dix_rejected). Hit Ctrl-C to end.")
    assert "TRACEPOINT_PROBE(xen_blkback, xen_blkback_rq_complete)" in kernel.bpf.text
    assert kernel.bpf.kprobes == [] and "XENDIX_SYS" not in kernel.bpf.text


def test_only_the_warnings_of_the_kernels_own_headers_are_silenced(kernel, host, web):
    """Linux 6.12's x86 headers warn under clang 14 on every start (seen in
    the lab); warnings about the tool's own code stay on."""
    run(host, "top", "-C", "1", "1")
    assert kernel.bpf.cflags == ["-Wno-duplicate-decl-specifier", "-Wno-ignored-attributes"]


def test_a_vbd_without_a_known_profile_has_no_pi_share(kernel, host, store, web):
    del store.nodes["/local/domain/0/backend/vbd/1/51728/data-integrity-interval"]
    kernel.intervals.append(lambda: kernel.complete(web, dix=True))
    assert rows(run(host, "top", "-C", "1", "1").stdout)["xvdb"]["%PI-bytes"] == "-"


def test_a_guest_written_domain_name_is_escaped(kernel, host, store, web):
    store.add_domain(1, "evil\x1b[2J\nname")
    kernel.intervals.append(lambda: kernel.complete(web, dix=True))
    out = run(host, "top", "-C", "-j", "1", "1").stdout
    assert "\x1b" not in out
    assert json.loads(out)["vbds"][0]["domain"] == "evil\\x1b[2J\\nname"


def test_an_unknown_backing_device_is_its_major_minor(kernel, host, store):
    store.add_vbd(1, 51744, "xvdc", params="/dev/nosuch", phys="fe:3")
    v = Vbd(1, 51744, dev_t(254, 3))
    kernel.intervals.append(lambda: kernel.complete(v))
    assert rows(run(host, "top", "-C", "1", "1").stdout)["xvdc"]["BACKING"] == "254:3"


def test_json_is_one_line_per_interval_with_counts_and_rates(kernel, host, web):
    kernel.intervals += [lambda: [kernel.complete(web, sectors=8, write=True, dix=True),
                                  kernel.error(web, "app")], lambda: None]
    r = run(host, "top", "-j", "1", "2")
    assert r.exit_code == 0
    assert r.stderr.startswith("Tracing xen_blkback tracepoints")  # stdout is only JSON
    first, second = map(json.loads, r.stdout.splitlines())
    assert first["interval_s"] == 1.0 and second["vbds"] == []
    (v,) = first["vbds"]
    assert v == {"domain": "web", "domid": 1, "vdev": "xvdb", "devid": 51728, "backing": "sda",
                 "dev": "8:0", "requests": 1, "bytes": 4096, "dix": 1, "pi_bytes": 64,
                 "unprotected": 0, "rejected": 0,
                 "errors": {"guard": 0, "app": 1, "ref": 0, "unknown": 0},
                 "dix_per_s": 1.0, "unprotected_per_s": 0.0, "rejected_per_s": 0.0,
                 "errors_per_s": 1.0, "kb_per_s": 4.0, "pi_bytes_percent": 1.5625}


def test_ctrl_c_prints_the_interval_so_far_and_exits_130(kernel, host, web):
    def half_then_ctrl_c():
        kernel.complete(web, dix=True)
        kernel.clock[0] += 0.5
        raise KeyboardInterrupt

    kernel.intervals.append(half_then_ctrl_c)
    r = run(host, "top", "-C", "-j", "1")
    assert r.exit_code == errors.INTERRUPTED == 130
    assert "Traceback" not in r.output and "Aborted" not in r.output
    (line,) = r.stdout.splitlines()
    assert json.loads(line)["interval_s"] == 0.5 and json.loads(line)["vbds"][0]["dix_per_s"] == 2.0


def test_without_count_it_runs_until_ctrl_c(kernel, host, web):
    kernel.intervals += [lambda: None] * 4 + [lambda: (_ for _ in ()).throw(KeyboardInterrupt)]
    r = run(host, "top", "-C")
    assert r.exit_code == 130 and r.stdout.count("interval 1.0 s") == 4


# -- --guest ------------------------------------------------------------------------

def test_guest_counts_blkfront_requests_and_its_own_verify_failures(guest, host):
    xvdb = Vbd(0, 51728, XVDB_DEV)

    def interval():
        kernel = guest
        kernel.complete(xvdb, sectors=8, dix=True)
        kernel.verify_failed("xvdb", sector=2048)

    guest.intervals.append(interval)
    r = run(host, "top", "--guest", "-C", "1", "1")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[0] == (
        "Tracing xen_blkfront tracepoints (rq_complete, dix_error, dix_unprotected, dix_refused); "
        "guest verify failures by kprobe+kretprobe on t10_pi_type1_verify_crc, "
        "t10_pi_type1_verify_ip, t10_pi_type3_verify_crc, t10_pi_type3_verify_ip (Linux 6.1). "
        "Hit Ctrl-C to end.")
    row = rows(r.stdout)["xvdb"]
    assert (row["DOMAIN"], row["BACKING"]) == ("0", "xvdb")  # the backend's domid, the xvd disk
    assert row["VERIFY/s"] == "1.0" and row["ERR/s"] == "1.0" and row["DIX/s"] == "1.0"
    assert row["%PI-bytes"] == "1.56"  # the xvd disk's own profile
    assert "TRACEPOINT_PROBE(xen_blkfront, xen_blkfront_dix_refused)" in guest.bpf.text
    assert ("t10_pi_type1_verify_crc", "verify_entry") in guest.bpf.kprobes
    assert ("t10_pi_type3_verify_ip", "verify_return") in guest.bpf.kretprobes
    assert "struct blk_integrity_iter" in guest.bpf.text


def test_guest_on_6_12_probes_blk_integrity_verify(guest, host, proc):
    kallsyms(proc, KALLSYMS_612)
    guest.intervals.append(lambda: guest.verify_failed("xvdb", sector=8, dev=XVDB_DEV))
    r = run(host, "top", "--guest", "-C", "-j", "1", "1")
    assert "kprobe+kretprobe on blk_integrity_verify (Linux 6.12)" in r.stderr
    assert guest.bpf.kretprobes == [("blk_integrity_verify", "verify_return")]
    (v,) = json.loads(r.stdout)["vbds"]
    assert v["errors"]["verify"] == 1 and (v["vdev"], v["devid"], v["backing"]) == (
        "xvdb", 51728, "xvdb")
    assert v["domid"] is None and v["domain"] == "?"  # no blkfront event named its backend yet


def test_guest_without_a_verify_function_says_so_and_still_runs(guest, host, proc):
    kallsyms(proc, ["bio_integrity_prep"])
    r = run(host, "top", "--guest", "-C", "1", "1")
    assert r.exit_code == 0
    assert "guest verify failures: not probed" in r.stdout
    assert r.stderr.startswith("xendix: no guest PI verify function in ") and r.stderr.count("\n") == 1
    assert guest.bpf.kprobes == []


def test_top_needs_no_bcc_until_it_runs(host):
    assert "xendix top" in run(host, "top", "--help").stdout
    assert SDA == 8 << 20
