"""NVMe with PI behind blkback: large requests, load, other backings.

Two runs, one per NVMe namespace of the machine (scenario.toml): PI type 1
with 512-byte blocks and PI type 3 with 4096-byte blocks.  Each run gives
one domU (blkfront with max_indirect_segments=256, so that a 1 MiB request
carries 4 pages of PI at 512-byte intervals, a 2-page ring, so that more
than 16 pairs fit in flight, and no persistent grants) the whole NVMe disk, a partition of it,
a dm-linear volume on it, and a scsi_debug disk whose own PI errors dom0
switches on.
"""

import time
from pathlib import Path

import labguest as lab

EILSEQ = 84
MIB = 1048576
# blkfront: 1 MiB requests; a 2-page ring (64 slots, 32 pairs in flight);
# no persistent grants, since with them blkfront allocates a bounce page
# for every grant of every slot up front (64 x 257 pages, 64 MiB, per
# vbd: five vbds do not fit in the domU).  test_dix covers persistent
# grants on and off.
FRONT = {"max_indirect_segments": 256, "max_ring_page_order": 1, "feature_persistent": 0}
PART_START_MIB, PART_MIB = 1, 31
LINEAR_START_MIB, LINEAR_MIB = 40, 24
# One domU's bound from its start to its end, whatever phase it is stuck in
# (2.5 to 9 minutes were measured on a busy 2-core machine), within the
# scenario's own bound (scenario.toml's timeout, less a minute to clean up).
DOMU_BOUND = 600
SCENARIO_END = time.monotonic() + lab.job()["timeout"] - 60
DEVID = {v: lab.devid(v) for v in ("xvdb", "xvdd", "xvde", "xvdf")}
RUNS = (
    # name, NVMe serial, expected profile, scsi_debug disk of the same kind
    ("type1-512", "dix0", ("T10-DIF-TYPE1-CRC", "512"), dict(dif=1, dix=1)),
    ("type3-4096", "dix1", ("T10-DIF-TYPE3-CRC", "4096"), dict(dif=3, dix=1, sector_size=4096)),
)

s = lab.Scenario()
s.fact("nvme_disks", lab.job().get("nvme"))


class PiCorruption:
    """blkback's test hook that corrupts the PI of the next N DIX reads
    (after the disk) or writes (before it).  Every use of the hook is
    here, so that moving it (e.g. to the fault-injection framework)
    changes this class only."""

    def __init__(self, direction: str) -> None:
        assert direction in ("reads", "writes")
        self.knob = f"dix_corrupt_{direction}"
        self.armed = 0

    def arm(self, n: int) -> None:
        self.armed = n
        lab.blkback_knob(self.knob, n)

    def injected(self) -> int:
        """How many of the armed corruptions blkback has used; disarms."""
        left = lab.blkback_knob(self.knob)
        lab.blkback_knob(self.knob, 0)
        return self.armed - left


def one_run(name: str, serial: str, want: tuple, sd_params: dict) -> None:
    disk = lab.nvme(serial)
    prof = s.fact(f"{name}_dom0_profile", lab.integrity(disk))
    limits = s.fact(f"{name}_dom0_queue_limits", lab.queue_limits(disk))
    s.check(f"{name}: dom0 sees the NVMe namespace with PI",
            (prof["format"], prof["protection_interval_bytes"]) == want
            and limits["logical_block_size"] == int(want[1]),
            disk=disk, profile=prof, limits=limits)

    part = lab.partition(disk, PART_START_MIB, PART_MIB)
    linear = lab.dm_linear(f"lin-{name}", disk, LINEAR_START_MIB, LINEAR_MIB)
    backings = s.fact(f"{name}_backings", {
        "partition": part, "partition_start_sectors": lab.partition_start_sectors(part),
        "partition_profile": lab.integrity(part),
        "linear": linear, "linear_table": lab.sh("dmsetup", "table", f"lin-{name}").stdout.strip(),
        "linear_profile": lab.integrity(linear)})
    sd = lab.scsi_debug(dev_size_mb=16, **sd_params)
    sd_prof = s.fact(f"{name}_scsi_debug_profile", lab.integrity(sd))
    box = lab.mailbox()

    nvme_before = lab.nvme_pi_rejections()
    sd_before = lab.disk_pi_rejections()
    disks = [lab.lean_disk(disk, "xvdb"), lab.lean_disk(box, "xvdc"), lab.lean_disk(part, "xvdd"), lab.lean_disk(linear, "xvde"),
             lab.lean_disk(sd, "xvdf")]
    domu = lab.Domu(name, disks, "domu-nvme.sh", memory=256, front_params=FRONT)
    started = domu.start()
    domid = domu.domid if started else -1
    reads, writes = PiCorruption("reads"), PiCorruption("writes")
    injected = {"reads": -1, "writes": -1}
    nvme_counts = {"before": nvme_before}
    sd_counts = {"before": sd_before}
    load_stats: dict = {}

    deadline = min(time.monotonic() + DOMU_BOUND, SCENARIO_END)

    def left(timeout: float) -> float:
        return max(1.0, min(timeout, deadline - time.monotonic()))

    def stage(phase: str, timeout: float = 240) -> bool:
        """Wait until the domU is ready for ``phase``; give up early when it
        died or dom0's kernel is in trouble (a BUG or a GP fault in dom0
        can leave it up, but never answering)."""
        end = time.monotonic() + left(timeout)
        while started and time.monotonic() < end:
            wait = max(1.0, min(15.0, end - time.monotonic()))
            if domu.wait_record("ready", wait, phase=phase) is not None:
                return True
            problems = lab.dom0_kernel_problems()
            if problems or not lab.domain_exists(name):
                s.fact(f"{name}_gave_up_at", {"phase": phase, "dom0_problems": problems[:5]})
                return False
        return False

    if stage("corrupt-reads"):
        nvme_counts["matrix"] = lab.nvme_pi_rejections()
        reads.arm(4)
        lab.signal(box, "corrupt-reads")
    if stage("corrupt-writes", 180):
        injected["reads"] = reads.injected()
        nvme_counts["reads"] = lab.nvme_pi_rejections()
        writes.arm(4)
        lab.signal(box, "corrupt-writes")
    if stage("load", 180):
        injected["writes"] = writes.injected()
        nvme_counts["writes"] = lab.nvme_pi_rejections()
        load_stats["before"] = lab.blkback_stats(domid, DEVID["xvdb"])
        lab.signal(box, "load")
    if stage("disk-errors", 300):
        load_stats["after"] = lab.blkback_stats(domid, DEVID["xvdb"])
        nvme_counts["load_and_backings"] = lab.nvme_pi_rejections()
        sd_counts["armed"] = lab.disk_pi_rejections()
        lab.scsi_debug_inject(0x20, 1)  # SDEBUG_OPT_DIF_ERR on every command
        lab.signal(box, "disk-errors")
    if stage("disk-errors-off", 120):
        lab.scsi_debug_inject(0, 0)
        sd_counts["disarmed"] = lab.disk_pi_rejections()
        lab.signal(box, "disk-errors-off")
    back = {}
    done = stage("done", 120)
    if done:
        back = {dev: lab.blkback_stats(domid, devid) for dev, devid in DEVID.items()}
        lab.signal(box, "done")
    if Path("/sys/module/scsi_debug").exists():
        lab.scsi_debug_inject(0, 0)
    # A domU that got to the end may take its time to power off.
    run = domu.finish(max(60.0, left(120)) if done else left(120))
    s.fact(f"{name}_blkback_stats", back)
    s.fact(f"{name}_injected", injected)
    s.fact(f"{name}_nvme_pi_rejections", nvme_counts)
    s.fact(f"{name}_scsi_debug_pi_rejections", sd_counts)
    s.fact(f"{name}_domu_seconds", run.seconds)
    s.fact(f"{name}_domu_phases", {r["phase"]: r["uptime"] for r in run.record("mark")})
    s.check(f"{name}: the domU ran its script and powered off", run.finished,
            exit_status=run.exit_status, timed_out=run.timed_out, create_error=run.create_error,
            log=run.script_log[-15:], last_records=run.records[-5:])

    # Large requests: blkfront took the parameters.
    params = (run.record("front_params") or [{}])[0]
    prof_of = {r["dev"]: r for r in run.record("profile")}
    xvdb = prof_of.get("xvdb", {})
    s.check(f"{name}: blkfront takes 1 MiB requests (max_indirect_segments=256)",
            params.get("max_indirect_segments") == 256 and xvdb.get("max_hw_sectors_kb") == 1024,
            params=params, xvdb=xvdb)

    # Profile.
    s.check(f"{name}: the domU's xvdb has the NVMe disk's integrity format and interval",
            (xvdb.get("format"), str(xvdb.get("interval")), str(xvdb.get("tag_size")))
            == (prof["format"], prof["protection_interval_bytes"], prof["tag_size"]),
            domu=xvdb, dom0=prof)
    s.check(f"{name}: the partition and the dm-linear volume have the same profile in the domU",
            all((prof_of.get(d, {}).get("format"), str(prof_of.get(d, {}).get("interval")))
                == want for d in ("xvdd", "xvde")),
            xvdd=prof_of.get("xvdd"), xvde=prof_of.get("xvde"), dom0=backings)

    # Round trip.
    counters = {(r["phase"], r["dev"]): r for r in run.record("front_counters")}
    matrix = run.record("matrix")
    m_writes = [r for r in matrix if r["op"] == "write"]
    m_reads = [r for r in matrix if r["op"] == "verify"]
    s.fact(f"{name}_matrix", [(r["op"], r["offset"], r["size"], r["bs"], r["ios"], r["ok"],
                               r["error"]) for r in matrix])
    s.check(f"{name}: O_DIRECT writes of 4 KiB, 1 MiB and 4 MiB completed",
            len(m_writes) == 4 and all(r["ok"] for r in m_writes)
            and {4096, MIB, 4 * MIB} <= {r["bs"] for r in m_writes}, writes=m_writes)
    s.check(f"{name}: every read came back verified and identical",
            len(m_reads) == 4 and all(r["ok"] for r in m_reads), reads=m_reads)
    ios = sum(r["ios"] for r in matrix)
    pairs = counters.get(("matrix", "xvdb"), {}).get("dix_req")
    s.check(f"{name}: every request carried PI (frontend pairs >= I/Os)",
            isinstance(pairs, int) and pairs >= ios, ios=ios, frontend=counters.get(("matrix", "xvdb")))
    xb = back.get("xvdb", {})
    s.check(f"{name}: blkback gave the disk PI for every request (blkback dix_req >= frontend pairs)",
            isinstance(pairs, int) and xb.get("dix_req", 0) >= pairs >= ios, blkback=xb,
            frontend_pairs=pairs)
    s.check(f"{name}: the disk found no PI error in the round trip",
            nvme_counts.get("matrix") == nvme_before
            and counters.get(("matrix", "xvdb"), {}).get("dix_err") == 0,
            counts=nvme_counts, frontend=counters.get(("matrix", "xvdb")))

    # Corruption, read side.
    bad = run.record("corrupt_read")
    s.fact(f"{name}_corrupt_reads", bad)
    s.check(f"{name}: 4 reads whose PI was corrupted were injected", injected["reads"] == 4,
            injected=injected)
    s.check(f"{name}: each corrupted read (4 KiB and 1 MiB) failed with EILSEQ",
            len(bad) == 4 and all(not r["ok"] and r["errno"] == EILSEQ for r in bad), reads=bad)
    clean = run.record("clean_read")
    s.check(f"{name}: the same blocks read back intact once the corruption stopped",
            len(clean) == 2 and all(r["ok"] for r in clean), read=clean)

    # Corruption, write side.
    bad = run.record("corrupt_write")
    s.fact(f"{name}_corrupt_writes", bad)
    s.check(f"{name}: 4 writes whose PI was corrupted were injected", injected["writes"] == 4,
            injected=injected)
    s.check(f"{name}: the disk refused each corrupted write: EILSEQ in the domU",
            len(bad) == 4 and all(not r["ok"] and r["errno"] == EILSEQ for r in bad), writes=bad)
    refused = nvme_counts.get("writes", -1) - nvme_counts.get("reads", 0)
    s.check(f"{name}: the NVMe disk reported exactly the injected PI errors",
            refused == 4 and nvme_counts.get("reads") == nvme_counts.get("matrix"),
            counts=nvme_counts)
    clean = run.record("clean_write")
    s.check(f"{name}: the next write, uncorrupted, succeeded and reads back",
            len(clean) == 2 and all(r["ok"] for r in clean), io=clean)
    fc = counters.get(("corrupt", "xvdb"), {})
    s.check(f"{name}: blkback and blkfront both counted the 4 refused writes",
            back.get("xvdb", {}).get("dix_err") == 4 and fc.get("dix_err") == 4,
            blkback=back.get("xvdb"), blkfront=fc)
    guard = [l for l in run.dmesg if "xvdb" in l and ("tag error" in l or "protection error" in l)]
    s.fact(f"{name}_domu_protection_messages", guard[:12])
    s.check(f"{name}: the domU's kernel caught the corrupted reads (guard tag error)",
            any("guard tag error" in l for l in guard), lines=guard[:12])

    # Load.
    load = run.record("load")
    s.fact(f"{name}_load", [(r["op"], r["bs"], r["depth"], r["ios"], r["max_inflight"], r["ok"],
                             r["error"]) for r in load])
    inflight = max([r.get("max_inflight", -1) for r in load] or [-1])
    s.check(f"{name}: load: more than 16 requests were in flight at once", inflight > 16,
            max_inflight=inflight, ring="2 pages, 64 slots, 32 pairs")
    s.check(f"{name}: load: every write completed and every read verified",
            len(load) == 4 and all(r["ok"] for r in load), load=load)
    before, after = counters.get(("corrupt", "xvdb"), {}), counters.get(("load", "xvdb"), {})
    fe_pairs = after.get("dix_req", 0) - before.get("dix_req", 0)
    lb, la = load_stats.get("before", {}), load_stats.get("after", {})
    be_reqs = (la.get("rd_req", 0) + la.get("wr_req", 0)) - (lb.get("rd_req", 0) + lb.get("wr_req", 0))
    be_pairs = la.get("dix_req", 0) - lb.get("dix_req", 0)
    load_ios = sum(r["ios"] for r in load)
    s.check(f"{name}: load: every request carried PI and none failed",
            bool(lb) and bool(la) and fe_pairs >= load_ios and be_pairs == be_reqs == fe_pairs
            and after.get("dix_err") == before.get("dix_err")
            and la.get("dix_err") == lb.get("dix_err"),
            ios=load_ios, frontend_pairs=fe_pairs, blkback_pairs=be_pairs, blkback_requests=be_reqs,
            blkback=load_stats, frontend={"before": before, "after": after})

    # Other backings.
    backing = run.record("backing")
    quiet = nvme_counts.get("load_and_backings") == nvme_counts.get("writes")
    for dev, what in (("xvdd", f"a partition at {PART_START_MIB} MiB"),
                      ("xvde", f"a dm-linear volume at {LINEAR_START_MIB} MiB")):
        mine = [r for r in backing if r["dev"] == f"/dev/{dev}"]
        bk = back.get(dev, {})
        fc = counters.get(("backings", dev), {})
        s.check(f"{name}: {what} as backing: I/O round-trips with PI, no PI error",
                len(mine) == 4 and all(r["ok"] for r in mine) and quiet
                and bk.get("dix_req", 0) >= sum(r["ios"] for r in mine) and bk.get("dix_err") == 0
                and fc.get("dix_err") == 0, io=mine, blkback=bk, blkfront=fc, nvme=nvme_counts,
                backing=backings)

    # The disk's own PI errors.
    errs = run.record("disk_error")
    s.fact(f"{name}_disk_errors", errs)
    s.check(f"{name}: a PI error reported by the disk fails the read with EILSEQ",
            len(errs) == 2 and all(not r["ok"] and r["errno"] == EILSEQ for r in errs)
            and sd_counts.get("disarmed", 0) - sd_counts.get("armed", 0) == 2,
            reads=errs, disk=sd_counts, dom0_profile=sd_prof)
    fc = counters.get(("end", "xvdf"), {})
    s.check(f"{name}: blkback and blkfront counted the disk's PI errors",
            back.get("xvdf", {}).get("dix_err") == 2 and fc.get("dix_err") == 2,
            blkback=back.get("xvdf"), blkfront=fc)
    clean = run.record("disk_clean")
    s.check(f"{name}: the disk's blocks read back once its errors stopped",
            len(clean) == 1 and clean[0]["ok"], read=clean)

    s.check(f"{name}: blkback served every read and write as a PI pair (dix_req = rd_req + wr_req)",
            bool(back) and all(b.get("dix_req", 0) > 0
                               and b.get("dix_req") == b.get("rd_req", 0) + b.get("wr_req", 0)
                               for b in back.values()), blkback=back)
    s.check(f"{name}: no BUG, WARNING or Oops in the domU", run.finished and not run.kernel_problems(),
            lines=run.kernel_problems())
    s.check(f"{name}: the domain is gone, grants released", lab.only_dom0_left())
    s.fact(f"{name}_domu_messages", [l for l in run.dmesg if "xvd" in l or "blkfront" in l][:30])
    lab.dm_remove(f"lin-{name}")


for name, serial, want, sd_params in RUNS:
    try:
        one_run(name, serial, want, sd_params)
        s.check(f"{name}: the run completed", True)
    except Exception as e:  # the run's own failure, then on with the next run
        s.check(f"{name}: the run completed", False, error=repr(e))
        lab.sh(lab.XL, "destroy", name, check=False, timeout=60)
        lab.dm_remove(f"lin-{name}")
    s.fact(f"{name}_nvme_messages", [l for l in lab.sh("dmesg", timeout=20).stdout.splitlines()
                                     if "nvme" in l][-20:])

lab.check_dom0_clean(s)
s.save()
