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

import checks as C
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


def one_run(name: str, serial: str, want: tuple, sd_params: dict) -> None:
    disk = lab.nvme(serial)
    prof = s.fact(f"{name}_dom0_profile", lab.integrity(disk))
    limits = s.fact(f"{name}_dom0_queue_limits", lab.queue_limits(disk))
    s.check(C.dom0_sees_the_namespace(name),
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
    reads = lab.PiFault(domid, DEVID["xvdb"], "read") if started else None
    writes = lab.PiFault(domid, DEVID["xvdb"], "write") if started else None
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
    s.check(C.domu_ran_its_script(name), run.finished,
            exit_status=run.exit_status, timed_out=run.timed_out, create_error=run.create_error,
            log=run.script_log[-15:], last_records=run.records[-5:])

    # Large requests: blkfront took the parameters.
    params = (run.record("front_params") or [{}])[0]
    prof_of = {r["dev"]: r for r in run.record("profile")}
    xvdb = prof_of.get("xvdb", {})
    s.check(C.blkfront_takes_1mib_requests(name),
            params.get("max_indirect_segments") == 256 and xvdb.get("max_hw_sectors_kb") == 1024,
            params=params, xvdb=xvdb)

    # Profile.
    s.check(C.xvdb_has_the_disks_profile(name),
            (xvdb.get("format"), str(xvdb.get("interval")), str(xvdb.get("tag_size")))
            == (prof["format"], prof["protection_interval_bytes"], prof["tag_size"]),
            domu=xvdb, dom0=prof)
    s.check(C.partition_and_volume_keep_the_profile(name),
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
    s.check(C.writes_of_4k_1m_and_4m_completed(name),
            len(m_writes) == 4 and all(r["ok"] for r in m_writes)
            and {4096, MIB, 4 * MIB} <= {r["bs"] for r in m_writes}, writes=m_writes)
    s.check(C.every_read_verified(name),
            len(m_reads) == 4 and all(r["ok"] for r in m_reads), reads=m_reads)
    ios = sum(r["ios"] for r in matrix)
    pairs = counters.get(("matrix", "xvdb"), {}).get("dix_req")
    s.check(C.every_request_carried_pi(name),
            isinstance(pairs, int) and pairs >= ios, ios=ios, frontend=counters.get(("matrix", "xvdb")))
    xb = back.get("xvdb", {})
    s.check(C.blkback_gave_the_disk_pi(name),
            isinstance(pairs, int) and xb.get("dix_req", 0) >= pairs >= ios, blkback=xb,
            frontend_pairs=pairs)
    s.check(C.no_disk_pi_error_in_the_round_trip(name),
            nvme_counts.get("matrix") == nvme_before
            and counters.get(("matrix", "xvdb"), {}).get("dix_err") == 0,
            counts=nvme_counts, frontend=counters.get(("matrix", "xvdb")))

    # Corruption, read side.
    bad = run.record("corrupt_read")
    s.fact(f"{name}_corrupt_reads", bad)
    s.check(C.reads_corrupted(name), injected["reads"] == 4,
            injected=injected)
    s.check(C.corrupted_reads_failed_with_eilseq(name),
            len(bad) == 4 and all(not r["ok"] and r["errno"] == EILSEQ for r in bad), reads=bad)
    clean = run.record("clean_read")
    s.check(C.blocks_intact_after_corruption(name),
            len(clean) == 2 and all(r["ok"] for r in clean), read=clean)

    # Corruption, write side.
    bad = run.record("corrupt_write")
    s.fact(f"{name}_corrupt_writes", bad)
    s.check(C.writes_corrupted(name), injected["writes"] == 4,
            injected=injected)
    s.check(C.disk_refused_corrupted_writes(name),
            len(bad) == 4 and all(not r["ok"] and r["errno"] == EILSEQ for r in bad), writes=bad)
    refused = nvme_counts.get("writes", -1) - nvme_counts.get("reads", 0)
    s.check(C.disk_reported_the_injected_errors(name),
            refused == 4 and nvme_counts.get("reads") == nvme_counts.get("matrix"),
            counts=nvme_counts)
    clean = run.record("clean_write")
    s.check(C.next_write_succeeded(name),
            len(clean) == 2 and all(r["ok"] for r in clean), io=clean)
    fc = counters.get(("corrupt", "xvdb"), {})
    s.check(C.both_drivers_counted_the_refused_writes(name),
            back.get("xvdb", {}).get("dix_err") == 4 and fc.get("dix_err") == 4,
            blkback=back.get("xvdb"), blkfront=fc)
    guard = [l for l in run.dmesg if "xvdb" in l and ("tag error" in l or "protection error" in l)]
    s.fact(f"{name}_domu_protection_messages", guard[:12])
    s.check(C.domu_caught_the_corrupted_reads(name),
            any("guard tag error" in l for l in guard), lines=guard[:12])

    # Load.
    load = run.record("load")
    s.fact(f"{name}_load", [(r["op"], r["bs"], r["depth"], r["ios"], r["max_inflight"], r["ok"],
                             r["error"]) for r in load])
    inflight = max([r.get("max_inflight", -1) for r in load] or [-1])
    s.check(C.load_more_than_16_in_flight(name), inflight > 16,
            max_inflight=inflight, ring="2 pages, 64 slots, 32 pairs")
    s.check(C.load_every_io_completed(name),
            len(load) == 4 and all(r["ok"] for r in load), load=load)
    before, after = counters.get(("corrupt", "xvdb"), {}), counters.get(("load", "xvdb"), {})
    fe_pairs = after.get("dix_req", 0) - before.get("dix_req", 0)
    lb, la = load_stats.get("before", {}), load_stats.get("after", {})
    be_reqs = (la.get("rd_req", 0) + la.get("wr_req", 0)) - (lb.get("rd_req", 0) + lb.get("wr_req", 0))
    be_pairs = la.get("dix_req", 0) - lb.get("dix_req", 0)
    load_ios = sum(r["ios"] for r in load)
    s.check(C.load_every_request_carried_pi(name),
            bool(lb) and bool(la) and fe_pairs >= load_ios and be_pairs == be_reqs == fe_pairs
            and after.get("dix_err") == before.get("dix_err")
            and la.get("dix_err") == lb.get("dix_err"),
            ios=load_ios, frontend_pairs=fe_pairs, blkback_pairs=be_pairs, blkback_requests=be_reqs,
            blkback=load_stats, frontend={"before": before, "after": after})

    # Other backings.
    backing = run.record("backing")
    quiet = nvme_counts.get("load_and_backings") == nvme_counts.get("writes")
    for dev, what in (("xvdd", C.partition_at(PART_START_MIB)),
                      ("xvde", C.volume_at(LINEAR_START_MIB))):
        mine = [r for r in backing if r["dev"] == f"/dev/{dev}"]
        bk = back.get(dev, {})
        fc = counters.get(("backings", dev), {})
        s.check(C.backing_round_trips(name, what),
                len(mine) == 4 and all(r["ok"] for r in mine) and quiet
                and bk.get("dix_req", 0) >= sum(r["ios"] for r in mine) and bk.get("dix_err") == 0
                and fc.get("dix_err") == 0, io=mine, blkback=bk, blkfront=fc, nvme=nvme_counts,
                backing=backings)

    # The disk's own PI errors.
    errs = run.record("disk_error")
    s.fact(f"{name}_disk_errors", errs)
    s.check(C.disk_error_fails_the_read(name),
            len(errs) == 2 and all(not r["ok"] and r["errno"] == EILSEQ for r in errs)
            and sd_counts.get("disarmed", 0) - sd_counts.get("armed", 0) == 2,
            reads=errs, disk=sd_counts, dom0_profile=sd_prof)
    fc = counters.get(("end", "xvdf"), {})
    s.check(C.both_drivers_counted_the_disk_errors(name),
            back.get("xvdf", {}).get("dix_err") == 2 and fc.get("dix_err") == 2,
            blkback=back.get("xvdf"), blkfront=fc)
    clean = run.record("disk_clean")
    s.check(C.disk_blocks_read_back_after_errors(name),
            len(clean) == 1 and clean[0]["ok"], read=clean)

    s.check(C.blkback_served_every_io_as_a_pair(name),
            bool(back) and all(b.get("dix_req", 0) > 0
                               and b.get("dix_req") == b.get("rd_req", 0) + b.get("wr_req", 0)
                               for b in back.values()), blkback=back)
    s.check(C.no_oops_in_the_domu(name), run.finished and not run.kernel_problems(),
            lines=run.kernel_problems())
    s.check(C.domain_is_gone(name), lab.only_dom0_left())
    s.fact(f"{name}_domu_messages", [l for l in run.dmesg if "xvd" in l or "blkfront" in l][:30])
    lab.dm_remove(f"lin-{name}")


for name, serial, want, sd_params in RUNS:
    try:
        one_run(name, serial, want, sd_params)
        s.check(C.run_completed(name), True)
    except Exception as e:  # the run's own failure, then on with the next run
        s.check(C.run_completed(name), False, error=repr(e))
        lab.sh(lab.XL, "destroy", name, check=False, timeout=60)
        lab.dm_remove(f"lin-{name}")
    s.fact(f"{name}_nvme_messages", [l for l in lab.sh("dmesg", timeout=20).stdout.splitlines()
                                     if "nvme" in l][-20:])

lab.check_dom0_clean(s)
s.save()
