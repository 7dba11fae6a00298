"""The point of xen-dix in one boot: what DIX catches and a plain disk does not.

A domU gets a DIX disk (scsi_debug dif=1 dix=1) as xvdb and a plain RAM
disk as xvdc.  dom0 rots one 4 KiB block of each behind the guest's back,
writing other bytes straight to the device so that no PI is computed for
them: dd on the RAM disk, and on the DIX disk a SCSI WRITE(10) through
SG_IO without protection information (sg_raw), after which scsi_debug
still holds the block's old PI.  A normal write from dom0 would not do:
dom0's block layer would generate fresh PI for it and hide the rot.
"""

import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import checks as C
import labguest as lab

EILSEQ = 84
ROT_OFFSET, ROT_SIZE = 8192, 4096  # the third 4 KiB block, as the domU script
XVDB, XVDC, XVDD = (lab.devid(v) for v in ("xvdb", "xvdc", "xvdd"))
ROT_BYTES = b"rotten! " * (ROT_SIZE // 8)
# The stock /etc/xen/scripts/block takes 10-15 s a disk under TCG,
# serialised by its lock, and libxl gives each disk 40 s: three disks miss
# that on a busy host.  blkback only needs physical-device.

s = lab.Scenario()


def xendix(*args: str) -> subprocess.CompletedProcess:
    """``python3 -m xendix ARGS`` in dom0, as root (ctl/ is on PYTHONPATH)."""
    argv = ["python3", "-m", "xendix", *args]
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd="/",
                              env=dict(os.environ))
    except subprocess.TimeoutExpired as e:
        return subprocess.CompletedProcess(argv, -1, e.stdout or "", "timeout after 120s")


def rot_plain_disk(dev: str) -> dict:
    Path("/run/rot.bin").write_bytes(ROT_BYTES)
    w = lab.sh("dd", "if=/run/rot.bin", f"of={dev}", f"bs={ROT_SIZE}", f"seek={ROT_OFFSET // ROT_SIZE}",
               "count=1", "oflag=direct", "conv=notrunc,fsync", check=False, timeout=60)
    r = lab.sh("dd", f"if={dev}", "of=/run/rot-back.bin", f"bs={ROT_SIZE}",
               f"skip={ROT_OFFSET // ROT_SIZE}", "count=1", "iflag=direct", check=False, timeout=60)
    back = Path("/run/rot-back.bin").read_bytes() if r.returncode == 0 else b""
    return {"tool": "dd oflag=direct", "write_rc": w.returncode, "write_err": w.stderr.strip()[-300:],
            "disk_holds_rot": back == ROT_BYTES}


# -- The disks: DIX, plain, and the mailbox (all three RAM-backed) ----------
if not Path("/sys/module/brd").exists():
    lab.sh("modprobe", "brd", "rd_nr=2", "rd_size=16384")
lab.wait_until(lambda: Path("/dev/ram1").exists(), 10)
dix_disk = lab.scsi_debug(dev_size_mb=16, dif=1, dix=1)
plain_disk = "/dev/ram1"
box = lab.mailbox()  # /dev/ram0
dix_profile = s.fact("dix_disk", {"device": dix_disk, **lab.integrity(dix_disk)})
plain_profile = s.fact("plain_disk", {"device": plain_disk, **lab.integrity(plain_disk)})
s.check(C.DOM0_HAS_A_DIX_AND_A_PLAIN_DISK,
        dix_profile["format"] == "T10-DIF-TYPE1-CRC" and plain_profile["format"] in ("none", "nop"),
        dix=dix_profile, plain=plain_profile)



domu = lab.Domu("demo", [lab.lean_disk(dix_disk, "xvdb"), lab.lean_disk(plain_disk, "xvdc"), lab.lean_disk(box, "xvdd")],
                "domu-demo.sh")
up = domu.start()
# xendix snoop watches for integrity failures from now on (it compiles its
# BPF program while the domU boots).
snoop = lab.Background("snoop", [sys.executable, "-m", "xendix", "snoop"])
up = up and domu.wait_record("ready", 300, phase="rot") is not None
domid = domu.domid if up else -1
s.fact("seconds_to_domu_ready", round(time.monotonic() - domu.started, 1))
s.check(C.DOMU_IS_UP, up,
        create_error=domu.run.create_error)

# -- xendix status while the domU is up -------------------------------------
# Both at once: each is a Python start-up, slow under TCG.
started = time.monotonic()
with ThreadPoolExecutor(2) as pool:
    table, js = pool.map(lambda args: xendix(*args), (("status",), ("status", "--json")))
s.fact("xendix_seconds", round(time.monotonic() - started, 1))
print("lab: xendix status\n" + table.stdout, flush=True)
s.fact("xendix_status", table.stdout if table.returncode == 0 else
       {"rc": table.returncode, "stderr": table.stderr[-2000:]})
try:
    vbds = {v["devid"]: v for v in json.loads(js.stdout)["vbds"]}
except (ValueError, KeyError):
    vbds = {}
verdicts = s.fact("xendix_verdicts", {name: {"verdict": vbds.get(d, {}).get("verdict"),
                                             "reason": vbds.get(d, {}).get("reason")}
                                      for name, d in (("xvdb", XVDB), ("xvdc", XVDC))})
s.check(C.STATUS_SHOWS_THE_VERDICTS,
        verdicts["xvdb"]["verdict"] == "protected"
        and verdicts["xvdc"]["verdict"] == "unsupported-disk",
        verdicts=verdicts, rc=js.returncode, stderr=js.stderr[-1000:])

# -- Silent corruption under the guest --------------------------------------
dmesg_before = len(lab.sh("dmesg", timeout=20).stdout.splitlines())
rot = s.fact("rot", {"xvdb": lab.rot_without_pi(dix_disk, ROT_OFFSET, ROT_BYTES), "xvdc": rot_plain_disk(plain_disk)})
s.check(C.DOM0_ROTTED_A_BLOCK_OF_EACH_DISK,
        all(r["write_rc"] == 0 and r["disk_holds_rot"] for r in rot.values()), rot=rot)
snoop.wait_for("Tracing", 300)  # attached before the rot is read
lab.signal(box, "rot")
domu.wait_record("ready", 120, phase="inflight")
disk_said = [l for l in lab.sh("dmesg", timeout=20).stdout.splitlines()[dmesg_before:]
             if re.search(r"GUARD check failed|Unprotected WR|Sense: Logical block", l)]
s.fact("dom0_disk_messages", disk_said[:8])

# -- Corruption in flight: blkback corrupts the PI of one read ---------------
fault = lab.PiFault(domid, XVDB, "read")
fault.arm(1)
lab.signal(box, "inflight")
domu.wait_record("ready", 120, phase="done")
injected = s.fact("injected_read_corruptions", fault.injected())
back = s.fact("blkback_stats_xvdb", lab.blkback_stats(domid) if up else {})
snoop.stop()
snooped = s.fact("snoop", snoop.lines())
lab.signal(box, "bye")
run = domu.finish(120)

s.check(C.DOMU_RAN_ITS_SCRIPT, run.finished,
        exit_status=run.exit_status, timed_out=run.timed_out, create_error=run.create_error,
        log=run.script_log[-10:])

# Profiles.
guest = {r["disk"]: r for r in run.record("profile")}
s.fact("domu_profiles", guest)
xb, xc = guest.get("xvdb", {}), guest.get("xvdc", {})
s.check(C.XVDB_HAS_THE_DIX_PROFILE,
        xb.get("format") == dix_profile["format"]
        and str(xb.get("interval")) == dix_profile["protection_interval_bytes"],
        domu=xb, dom0=dix_profile)
s.check(C.XVDC_HAS_NO_PROFILE, xc.get("format") in ("none", "nop"), domu=xc)

# Round trip.
io = run.record("io")
for d, what in (("xvdb", "DIX"), ("xvdc", "plain")):
    mine = [r for r in io if r["dev"] == f"/dev/{d}"]
    s.check(C.data_round_trips(d, what),
            [r["op"] for r in mine] == ["write", "verify"] and all(r["ok"] for r in mine), io=mine)

# The rotted block, read by the guest.
rot_reads = {Path(r["dev"]).name: r for r in run.record("rot_read")}
s.fact("rot_reads", rot_reads)
rb, rc = rot_reads.get("xvdb", {}), rot_reads.get("xvdc", {})
s.check(C.ROT_UNDER_DIX_IS_CAUGHT,
        rb.get("ok") is False and rb.get("errno") == EILSEQ, read=rb, disk_said=disk_said[:4])
s.check(C.ROT_WITHOUT_DIX_GOES_UNNOTICED,
        rc.get("ok") is False and rc.get("errno") == 0 and rc.get("mismatch_at", -1) >= 0, read=rc)

# In flight.
bad = (run.record("inflight_read") or [{}])[0]
again = (run.record("reread") or [{}])[0]
s.fact("inflight_reads", {"corrupted": bad, "again": again})
s.check(C.CORRUPTION_IN_FLIGHT_IS_CAUGHT,
        injected == 1 and bad.get("ok") is False and bad.get("errno") == EILSEQ,
        injected=injected, read=bad)
s.check(C.DATA_ON_DISK_WAS_FINE, again.get("ok") is True,
        read=again)
caught = [l for l in snooped if l.split()[1:5] == ["error", "demo", "xvdb", Path(dix_disk).name]]
s.check(C.SNOOP_SHOWS_THE_ROT_READ,
        len(caught) == 1 and caught[0].split()[7:10] == ["R", "unknown", "EINTEGRITY"],
        lines=snooped, stderr=snoop.stderr()[-800:])

s.check(C.NO_OOPS_IN_THE_DOMU, not run.kernel_problems(), lines=run.kernel_problems())
s.check(C.NO_DYING_DOMAIN_AFTER_THE_DOMU, lab.only_dom0_left())
lab.check_dom0_clean(s)
s.save()


def line(ok: bool, text: str) -> str:
    return f"  [{'ok' if ok else '!!'}] {text}"


summary = [
    "",
    "xen-dix demo: what DIX buys a Xen PV guest",
    line(xb.get("format") == dix_profile["format"],
         f"xvdb (on {dix_disk}, scsi_debug DIX) carries {xb.get('format')} / "
         f"{xb.get('interval')}-byte intervals into the guest; xvdc (on {plain_disk}) has "
         f"{xc.get('format')}"),
    line(all(r["ok"] for r in io) and len(io) == 4, "data round-trips on both"),
    line(rb.get("errno") == EILSEQ,
         f"dom0 rots a block under each: the guest's read on xvdb fails with "
         f"{rb.get('error') or rb.get('errno')} (caught)"),
    line(rc.get("errno") == 0 and rc.get("mismatch_at", -1) >= 0,
         "  ... on xvdc it succeeds and returns the rotten bytes (nobody notices)"),
    line(bad.get("errno") == EILSEQ and again.get("ok") is True,
         f"PI corrupted in flight by blkback: read fails with {bad.get('error') or bad.get('errno')}, "
         "the block itself reads back intact"),
    line(len(caught) == 1, "xendix snoop in dom0 saw it:"),
    *(f"      {l}" for l in snooped[:2] + caught[:1]),
    line(verdicts["xvdb"]["verdict"] == "protected",
         f"xendix status: xvdb {verdicts['xvdb']['verdict']}, xvdc {verdicts['xvdc']['verdict']}"),
    f"  {sum(c['ok'] for c in s.checks)}/{len(s.checks)} checks passed",
]
print("\n".join("lab: " + l for l in summary), flush=True)
