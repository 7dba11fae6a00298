"""observe: what `xendix top`, `dixlat`, `snoop`, `monitor` and `exporter`
show of a domU's DIX disk, checked against exactly what the domU did."""

import json
import re
import statistics
import sys
import time
from pathlib import Path

import checks as C
import labguest as lab

N_WRITES, M_READS, P_PLAIN = 8, 5, 3  # domu-observe.sh's counted phase
CORRUPT_WRITES = 2
ROT_OFFSET = 2 * 1048576  # domu-observe.sh's rot-read block
ROT_BYTES = b"rotten! " * 512
PI_PERCENT = 8 / 512 * 100  # T10 PI: 8 bytes a 512-byte interval
TOOL_START = 420  # bcc compiles under TCG: tens of seconds a tool
XVDB, XVDC = lab.devid("xvdb"), lab.devid("xvdc")
NAME = "observe"

s = lab.Scenario()


def xendix(name: str, *args: str) -> lab.Background:
    return lab.Background(name, [sys.executable, "-m", "xendix", *args])


def json_lines(tool: lab.Background) -> list[dict]:
    out = []
    for line in tool.lines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def tracing_line(tool: lab.Background) -> str:
    """The line a bcc tool starts with: what it traces, and how."""
    return next((l for l in tool.text().splitlines() if l.startswith("Tracing")), "")


def histogram_counts(text: str) -> dict[tuple[str, bool], int]:
    """Samples of each of bcc's log2 histograms ("vbd = DOMAIN VDEV (BACKING)
    dix|plain", then "low -> high : count |***|" lines), for domain NAME."""
    counts: dict[tuple[str, bool], int] = {}
    key = None
    for line in text.splitlines():
        m = re.match(r"^vbd = (\S+) (\S+) \(\S*\) (dix|plain)$", line.strip())
        if m:
            key = (m[2], m[3] == "dix") if m[1] == NAME else None
            continue
        m = re.match(r"^\s*\d+ -> \d+\s*: (\d+)", line)
        if m and key is not None:
            counts[key] = counts.get(key, 0) + int(m[1])
    return counts


def delta(after: dict, before: dict) -> dict:
    return {k: after.get(k, 0) - before.get(k, 0) for k in after}


def rate(run_or_domu, phase: str) -> list[float]:
    """4 KiB writes a second, of each rate record of ``phase`` (on/off)."""
    return [r["ios"] / (r["usecs"] / 1e6) for r in run_or_domu.records_so_far()
            if r.get("record") == f"rate_{phase}" and r.get("ok") and r.get("usecs")]


dix_disk = lab.scsi_debug(dev_size_mb=32, dif=1, dix=1)
if not Path("/dev/ram1").exists():
    lab.sh("modprobe", "brd", "rd_nr=2", "rd_size=16384")
lab.wait_until(lambda: Path("/dev/ram1").exists(), 10)
plain_disk, box = "/dev/ram1", lab.mailbox()
s.fact("disks", {"xvdb": dix_disk, "xvdc": plain_disk, "xvdd": box})

# `snoop --guest` watches dom0's own blkfront, for the last part (dom0 as a
# guest of its own blkback).  bcc compiles it while the domU boots; it
# fires on nothing of the domU's (not on its path), so the rates below
# are not its to bear.
XVDE = lab.devid("xvde")
FRONT_KO = lab.LAB / "modules" / "patched" / "xen-blkfront.ko"
for dep in lab.sh("modinfo", "-F", "depends", str(FRONT_KO), check=False).stdout.strip().split(","):
    if dep:
        lab.sh("modprobe", dep, check=False)
if not Path("/sys/module/xen_blkfront").exists():
    lab.sh("insmod", str(FRONT_KO))
guest_snoop = xendix("snoop-guest", "snoop", "--guest", "-j")

domu = lab.Domu(NAME, [lab.lean_disk(dix_disk, "xvdb"), lab.lean_disk(plain_disk, "xvdc"),
                       lab.lean_disk(box, "xvdd")], "domu-observe.sh")
up = domu.start() and domu.wait_record("ready", 300, phase="rate-off-1") is not None
# Its compile ends before the first rate is measured.
guest_started = guest_snoop.wait_for("Tracing", TOOL_START)
s.fact("seconds_to_guest_snoop", round(time.monotonic() - s.started, 1))
profile = (domu.records_so_far() and [r for r in domu.records_so_far() if r.get("record") == "profile"])
s.check(C.DOMU_IS_UP, up and bool(profile) and profile[0].get("format") == "T10-DIF-TYPE1-CRC",
        create_error=domu.run.create_error, profile=profile)
domid = domu.domid if up else -1


def go(phase: str, then: str | None, timeout: float = 180) -> bool:
    """Start ``phase`` in the domU and wait until it is ready for ``then``."""
    lab.signal(box, phase)
    return then is None or domu.wait_record("ready", timeout, phase=then) is not None


# -- Probes detached: the first rate -----------------------------------------
go("rate-off-1", "counted")

# -- The tools, all at once (each compiles its BPF program) -----------------
tools = {
    "top": xendix("top", "top", "-j", "2"),
    "dixlat": xendix("dixlat", "dixlat"),  # bcc's text histograms, at Ctrl-C
    "snoop": xendix("snoop", "snoop", "-j"),
    "monitor": xendix("monitor", "monitor", "--json", "--source", "kernel"),
}
headers = {name: tools[name].wait_for("Tracing", TOOL_START) for name in ("top", "dixlat", "snoop")}
monitor_alive = tools["monitor"].proc.poll() is None
s.fact("tool_headers", {n: t.stderr().splitlines()[:2] for n, t in tools.items()})
s.fact("seconds_to_tools", round(max(t.started for t in tools.values()) - domu.started, 1))
s.check(C.TOOLS_STARTED, all(headers.values()) and monitor_alive
        and all("tracepoints" in tracing_line(tools[n]) for n in headers)
        and not any("warning:" in tools[n].stderr() for n in headers),
        headers=headers, monitor_alive=monitor_alive,
        stderr={n: t.stderr()[-800:] for n, t in tools.items()})

# -- Exactly N+M DIX requests on xvdb, P plain ones on xvdc -----------------
before = {d: lab.blkback_stats(domid, d) for d in (XVDB, XVDC)}
go("counted", "rate-on")
after = {d: lab.blkback_stats(domid, d) for d in (XVDB, XVDC)}
# Stop top after it has printed an interval that ended after the counted
# I/O: a Ctrl-C that lands while top reads its maps loses that interval.
printed = len(tools["top"].lines())
lab.wait_until(lambda: len(tools["top"].lines()) > printed, 30)
tools["top"].stop()
counted = {lab.vbd_name(domid, d): delta(after[d], before[d]) for d in (XVDB, XVDC)}
s.fact("sysfs_counted", counted)
b, c = counted[lab.vbd_name(domid, XVDB)], counted[lab.vbd_name(domid, XVDC)]
s.check(C.SYSFS_COUNTS_THE_IO,
        b.get("dix_req") == N_WRITES + M_READS and b.get("wr_req") == N_WRITES
        and b.get("rd_req") == M_READS and c.get("dix_req") == 0 and c.get("wr_req") == P_PLAIN,
        xvdb=b, xvdc=c)

top: dict[str, dict] = {}
for line in json_lines(tools["top"]):
    for v in line.get("vbds", []):
        t = top.setdefault(v["vdev"], {"requests": 0, "dix": 0, "bytes": 0, "pi_bytes": 0,
                                       "unprotected": 0, "errors": 0, "domain": v["domain"],
                                       "backing": v["backing"]})
        for k in ("requests", "dix", "bytes", "pi_bytes", "unprotected"):
            t[k] += v[k]
        t["errors"] += sum(v["errors"].values())
s.fact("top_totals", top)
tb, tc = top.get("xvdb", {}), top.get("xvdc", {})
s.check(C.TOP_COUNTS_THE_IO,
        tb.get("dix") == tb.get("requests") == N_WRITES + M_READS
        and tb.get("bytes") == (N_WRITES + M_READS) * 4096
        and abs(tb.get("pi_bytes", 0) * 100 / max(tb.get("bytes", 1), 1) - PI_PERCENT) < 1e-6
        and tb.get("unprotected") == tb.get("errors") == 0
        and tc.get("dix") == 0 and tc.get("requests") == P_PLAIN
        and tb.get("domain") == tc.get("domain") == NAME
        and tb.get("backing") == Path(dix_disk).name and tc.get("backing") == Path(plain_disk).name,
        xvdb=tb, xvdc=tc, lines=tools["top"].lines()[-6:])

# -- Probes attached: two rates ----------------------------------------------
go("rate-on", "corrupt-writes")

# -- Failures: writes the disk rejects, a read it fails, a write without PI -
failed_before = lab.blkback_stats(domid, XVDB)
writes = lab.PiFault(domid, XVDB, "write")
writes.arm(CORRUPT_WRITES)
go("corrupt-writes", "rot-read")
injected = s.fact("injected_write_corruptions", writes.injected())
rot = s.fact("rot", lab.rot_without_pi(dix_disk, ROT_OFFSET, ROT_BYTES))
go("rot-read", "unprotected")
go("unprotected", "rate-off-2")
failed = s.fact("sysfs_failures", delta(lab.blkback_stats(domid, XVDB), failed_before))

records = domu.records_so_far()
cw = [r for r in records if r.get("record") == "corrupt_write"]
rr = [r for r in records if r.get("record") == "rot_read"]
uw = [r for r in records if r.get("record") == "unprotected_write"]
s.check(C.DISK_REJECTED_THE_CORRUPT_WRITES,
        injected == CORRUPT_WRITES and len(cw) == CORRUPT_WRITES and not any(r["ok"] for r in cw),
        injected=injected, writes=cw)
s.check(C.DISK_FAILED_THE_ROTTED_READ,
        rot["disk_holds_rot"] and len(rr) == 1 and rr[0]["ok"] is False, rot=rot, reads=rr)
s.check(C.GUEST_WROTE_WITHOUT_PI, len(uw) == 1 and uw[0]["ok"] is True, writes=uw)
unknown = failed.get("dix_err", 0) - sum(failed.get(f"dix_err_{k}", 0) for k in ("guard", "app", "ref"))
s.check(C.SYSFS_COUNTS_THE_FAILURES,
        failed.get("dix_err") == CORRUPT_WRITES + 1 and failed.get("dix_err_guard") == CORRUPT_WRITES
        and unknown == 1 and failed.get("dix_unprotected") == 1 and failed.get("dix_rejected") == 0,
        counters=failed)

# The exporter, while the vbds are there.
prom_dir = Path("/run/xendix-prom")  # node_exporter's textfile directory
prom_dir.mkdir(exist_ok=True)
exporter = lab.sh(sys.executable, "-m", "xendix", "exporter", "--textfile", str(prom_dir),
                  check=False, timeout=180)
stats_now = {d: lab.blkback_stats(domid, d) for d in (XVDB, XVDC)}
metrics: dict[tuple, float] = {}
try:
    from prometheus_client.parser import text_string_to_metric_families

    prom_text = (prom_dir / "xendix.prom").read_text()
    s.fact("exporter_text", [l for l in prom_text.splitlines() if f'domain="{NAME}"' in l])
    for fam in text_string_to_metric_families(prom_text):
        for sample in fam.samples:
            if sample.labels.get("domain") == NAME:
                metrics[(sample.name, sample.labels.get("vdev"), sample.labels.get("kind"))] = sample.value
except (OSError, ValueError) as e:
    s.fact("exporter_error", str(e))
s.fact("exporter", {"rc": exporter.returncode, "stderr": exporter.stderr[-800:],
                    "samples": {"|".join(str(x) for x in k): v for k, v in metrics.items()}})
sb = stats_now[XVDB]
want = {
    ("xendix_vbd_dix_requests_total", "xvdb", None): sb.get("dix_req"),
    ("xendix_vbd_dix_errors_total", "xvdb", "guard"): sb.get("dix_err_guard"),
    ("xendix_vbd_dix_errors_total", "xvdb", "unknown"):
        sb.get("dix_err", 0) - sum(sb.get(f"dix_err_{k}", 0) for k in ("guard", "app", "ref")),
    ("xendix_vbd_unprotected_total", "xvdb", None): sb.get("dix_unprotected"),
    ("xendix_vbd_dix_requests_total", "xvdc", None): 0,
}
got = {k: metrics.get(k) for k in want}
s.check(C.EXPORTER_AGREES_WITH_SYSFS,
        exporter.returncode == 0 and all(got[k] is not None and got[k] == v for k, v in want.items()),
        want={"|".join(str(x) for x in k): v for k, v in want.items()},
        got={"|".join(str(x) for x in k): v for k, v in got.items()})

# -- Probes detached again: the last rate ------------------------------------
for name in ("snoop", "dixlat", "monitor"):
    tools[name].stop()
window = s.fact("sysfs_while_dixlat_ran", {
    d: delta(lab.blkback_stats(domid, dv), before[dv]) for d, dv in (("xvdb", XVDB), ("xvdc", XVDC))})
go("rate-off-2", "bye")

# snoop: one line per failure and for the write without PI.
snoop = s.fact("snoop", [e for e in json_lines(tools["snoop"]) if e.get("domain") == NAME])
mine = [(e["event"], e["vdev"], e["backing"], e["dir"], e["kind"]) for e in snoop]
expected = sorted([("error", "xvdb", Path(dix_disk).name, "write", "guard")] * CORRUPT_WRITES
                  + [("error", "xvdb", Path(dix_disk).name, "read", "unknown"),
                     ("unprotected", "xvdb", Path(dix_disk).name, "write", None)], key=str)
s.check(C.SNOOP_SHOWS_EACH_FAILURE, sorted(mine, key=str) == expected,
        seen=[list(m) for m in mine], expected=[list(e) for e in expected], stderr=tools["snoop"].stderr()[-800:])

# dixlat: histograms for the window it ran.
lat = histogram_counts(tools["dixlat"].stdout())
s.fact("dixlat_text", tools["dixlat"].stdout()[-4000:])
s.fact("dixlat_counts", {f"{v}/{'dix' if d else 'plain'}": n for (v, d), n in lat.items()})
wb, wc = window["xvdb"], window["xvdc"]
s.check(C.DIXLAT_HAS_BOTH_HISTOGRAMS,
        lat.get(("xvdb", True)) == wb.get("dix_req")
        and lat.get(("xvdb", False), 0) == wb.get("rd_req", 0) + wb.get("wr_req", 0) - wb.get("dix_req", 0)
        and lat.get(("xvdc", False)) == wc.get("rd_req", 0) + wc.get("wr_req", 0)
        and ("xvdc", True) not in lat,
        histograms={f"{v}/{'dix' if d else 'plain'}": n for (v, d), n in lat.items()}, sysfs=window, stdout=tools["dixlat"].stdout()[-1500:])

# monitor: the uevents, through pyroute2 (this dom0 has no udevd).
events = s.fact("uevents", [e for e in json_lines(tools["monitor"])
                            if e.get("source") == "kernel" and e.get("domid") == domid
                            and e.get("devid") == XVDB
                            and e.get("event") in ("integrity-error", "unprotected")])
by_kind: dict[str, int] = {}
for e in events:
    key = e["event"] if e["event"] == "unprotected" else e.get("kind", "?")
    by_kind[key] = by_kind.get(key, 0) + int(e.get("count", 0))
s.check(C.UEVENTS_COUNT_THE_FAILURES,
        by_kind == {"guard": CORRUPT_WRITES, "unknown": 1, "unprotected": 1},
        counts=by_kind, stderr=tools["monitor"].stderr()[-800:])

# The rates: off, on, on, off in one boot (ABBA against drift).
off, on = rate(domu, "off"), rate(domu, "on")
ratio = statistics.median(on) / statistics.median(off) if on and off else None
s.fact("overhead", {"writes_per_s_detached": [round(x, 1) for x in off],
                    "writes_per_s_attached": [round(x, 1) for x in on],
                    "attached_over_detached": None if ratio is None else round(ratio, 4),
                    "probes": "top (during counted only), dixlat, snoop, monitor; "
                              "snoop --guest on dom0's own blkfront throughout"})
s.check(C.OVERHEAD_MEASURED, len(off) == 2 and len(on) == 2, off=off, on=on)

lab.signal(box, "bye")
run = domu.finish(120)
s.check(C.NO_OOPS_IN_THE_DOMU, not run.kernel_problems(), lines=run.kernel_problems())
lab.wait_until(lambda: not lab.backend_vbds(), 30)

# -- The guest's own verify, seen by `snoop --guest` --------------------------
# dom0 is a guest of its own blkback here: our blkfront in dom0 and the
# DIX disk attached to domain 0 as xvde.  blkback corrupts the PI of one
# read after the disk; only the reading kernel's verify can see that.
attach = lab.sh(lab.XL, "block-attach", "0", lab.lean_disk(dix_disk, "xvde"), check=False, timeout=120)
xvde_up = lab.wait_until(lambda: Path("/dev/xvde").exists(), 60)
xvde_format = lab.read("/sys/block/xvde/integrity/format")
wrote = lab.sh("dd", "if=/dev/urandom", "of=/dev/xvde", "bs=4096", "count=1", "oflag=direct",
               check=False, timeout=60)
reads = lab.PiFault(0, XVDE, "read")
reads.arm(1)
bad_read = lab.sh("dd", "if=/dev/xvde", "of=/dev/null", "bs=4096", "count=1", "iflag=direct",
                  check=False, timeout=60)
injected_read = reads.injected()
time.sleep(2)  # the verify runs in a work item after the read's completion
guest_snoop.stop()
detach = lab.sh(lab.XL, "block-detach", "0", "xvde", check=False, timeout=120)
lab.wait_until(lambda: not Path("/dev/xvde").exists(), 60)
verify = [e for e in json_lines(guest_snoop) if e.get("event") == "verify"]
s.fact("guest_verify", {"attach_rc": attach.returncode, "attach_err": attach.stderr[-500:],
                        "xvde_format": xvde_format, "write_rc": wrote.returncode,
                        "read_rc": bad_read.returncode, "read_err": bad_read.stderr[-300:],
                        "injected": injected_read, "detach_rc": detach.returncode,
                        "snoop": json_lines(guest_snoop), "stderr": guest_snoop.stderr()[-1000:]})
s.check(C.GUEST_SNOOP_SEES_THE_FAILED_VERIFY,
        guest_started and xvde_up and xvde_format == "T10-DIF-TYPE1-CRC" and wrote.returncode == 0
        and injected_read == 1 and bad_read.returncode != 0 and len(verify) == 1
        and verify[0].get("kind") == "verify" and verify[0].get("dir") == "read"
        and "xvde" in (verify[0].get("vdev") or "") + (verify[0].get("backing") or ""),
        verify=verify, header=guest_snoop.stderr()[:300])
if Path("/sys/module/xen_blkfront").exists():
    lab.sh("rmmod", "xen_blkfront", check=False)
lab.check_dom0_clean(s)
s.save()
