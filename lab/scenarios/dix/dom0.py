"""The pipeline, DIX end to end with corruption injected in flight, and
every mix of old and new ends; one boot per series."""

from pathlib import Path

import checks as C
import labguest as lab

EILSEQ = 84
CORRUPT = 4  # reads, then writes, whose PI blkback corrupts

s = lab.Scenario()
job = lab.job()

# -- The pipeline: the checkout's series in both kernels, plain I/O ----------
ours = job["srcversion"]["patched"]
s.fact("series_modinfo", job["xendix"]["patched"])
s.check(C.DOM0_RUNS_OUR_BLKBACK,
        lab.module_srcversion("xen_blkback") == ours["xen-blkback"]
        and "O" in lab.module_taint("xen_blkback"),
        srcversion=lab.module_srcversion("xen_blkback"), expected=ours["xen-blkback"],
        taint=lab.module_taint("xen_blkback"))

disk = lab.scsi_debug(dev_size_mb=64, dif=1, dix=1)
s.fact("backing_disk", disk)
s.fact("backing_integrity", lab.integrity(disk))
# The toolstack's own block hotplug script here, as an admin's xl config
# has it; the other domUs use the lean one (lab.lean_disk), 10-15 s a
# disk faster under TCG.
run = lab.run_domu("pipeline", [f"phy:{disk},xvdb,w"], "domu-io.sh")
s.check(C.DOMU_RAN_ITS_SCRIPT, run.finished,
        exit_status=run.exit_status, timed_out=run.timed_out, create_error=run.create_error)
front_module = (run.record("module") or [{}])[0]
s.check(C.DOMU_RUNS_OUR_BLKFRONT,
        front_module.get("srcversion") == ours["xen-blkfront"],
        domu=front_module, expected=ours["xen-blkfront"])
xvdb = run.record("xvdb")
s.check(C.DOMU_SEES_XVDB, bool(xvdb) and xvdb[0].get("present") is True,
        record=xvdb[0] if xvdb else None)
io = {r["op"]: r for r in run.record("io")}
s.check(C.WROTE_1MIB_WITH_O_DIRECT, io.get("write", {}).get("ok") is True,
        record=io.get("write"))
s.check(C.DATA_READS_BACK_IDENTICAL, io.get("verify", {}).get("ok") is True,
        record=io.get("verify"))
s.check(C.NO_VBD_LEFT_AFTER_THE_DOMU,
        lab.wait_until(lambda: not lab.backend_vbds(), 30), vbds=lab.backend_vbds())
s.check(C.NO_OOPS_IN_THE_DOMU, not run.kernel_problems(),
        lines=run.kernel_problems())


def profile_nodes(domu: lab.Domu) -> dict:
    be, fe = domu.backend(), domu.frontend()
    return {
        "backend_feature": lab.xs_read(f"{be}/feature-data-integrity"),
        "format": lab.xs_read(f"{be}/data-integrity-format"),
        "interval": lab.xs_read(f"{be}/data-integrity-interval"),
        "tuple_size": lab.xs_read(f"{be}/data-integrity-tuple-size"),
        "tag_size": lab.xs_read(f"{be}/data-integrity-tag-size"),
        "frontend_feature": lab.xs_read(f"{fe}/feature-data-integrity"),
        "frontend_format": lab.xs_read(f"{fe}/data-integrity-format"),
    }


# -- Run A: TYPE1-CRC, 512-byte interval: I/O matrix and corruption --------
disk = lab.scsi_debug(dev_size_mb=64, dif=1, dix=1)
box = lab.mailbox()
dom0_profile = s.fact("dom0_profile", lab.integrity(disk))
rejected_before = s.fact("disk_pi_rejections_before", lab.disk_pi_rejections())

domu = lab.Domu("dix", [lab.lean_disk(disk, "xvdb"), lab.lean_disk(box, "xvdc")], "domu-dix-io.sh")
domu.start()
domid = domu.domid
ready = domu.wait_record("ready", 300, phase="corrupt-reads")
s.check(C.DIX_DOMU_REACHED_CORRUPT_READS, ready is not None)
nodes = s.fact("xenstore", profile_nodes(domu))
back_matrix = s.fact("blkback_stats_after_matrix", lab.blkback_stats(domid))
rejected_matrix = s.fact("disk_pi_rejections_after_matrix", lab.disk_pi_rejections())

reads = lab.PiFault(domid, lab.XVDB, "read")
reads.arm(CORRUPT)
lab.signal(box, "corrupt-reads")
domu.wait_record("ready", 120, phase="corrupt-writes")
injected_reads = s.fact("injected_read_corruptions", reads.injected())
rejected_mid = lab.disk_pi_rejections()

writes = lab.PiFault(domid, lab.XVDB, "write")
writes.arm(CORRUPT)
lab.signal(box, "corrupt-writes")
domu.wait_record("ready", 120, phase="done")
injected_writes = s.fact("injected_write_corruptions", writes.injected())
back = s.fact("blkback_stats", lab.blkback_stats(domid))
rejected_end = s.fact("disk_pi_rejections_end", lab.disk_pi_rejections())
lab.signal(box, "bye")
run = domu.finish(120)

s.check(C.DIX_DOMU_RAN_ITS_SCRIPT, run.finished,
        exit_status=run.exit_status, timed_out=run.timed_out, create_error=run.create_error,
        log=run.script_log[-10:])

# Profile.
guest = (run.record("profile") or [{}])[0]
s.check(C.XVDB_HAS_DOM0_FORMAT,
        guest.get("format") == dom0_profile["format"] == "T10-DIF-TYPE1-CRC",
        domu=guest, dom0=dom0_profile)
s.check(C.XVDB_HAS_DOM0_INTERVAL_AND_TAG_SIZE,
        str(guest.get("interval")) == dom0_profile["protection_interval_bytes"]
        and str(guest.get("tag_size")) == dom0_profile["tag_size"], domu=guest, dom0=dom0_profile)
s.check(C.BLKBACK_ADVERTISED_FRONTEND_OPTED_IN,
        nodes["backend_feature"] == "1" and nodes["frontend_feature"] == "1"
        and nodes["format"] == dom0_profile["format"]
        and nodes["interval"] == dom0_profile["protection_interval_bytes"], nodes=nodes)

s.check(C.FRONTEND_CONFIRMED_ITS_PROFILE,
        nodes["frontend_format"] == nodes["format"] == dom0_profile["format"], nodes=nodes)
confirmed = [l for l in lab.sh("dmesg", timeout=20).stdout.splitlines()
             if "data integrity confirmed by the frontend" in l]
s.check(C.BLKBACK_LOGGED_THE_CONFIRMATION,
        any(f"/{domid}/51728: data integrity confirmed by the frontend: "
            f"{dom0_profile['format']}" in l for l in confirmed), lines=confirmed[-4:])

# Writes and reads.
matrix = run.record("io")
writes = [r for r in matrix if r["op"] == "write" and r["offset"] < 8 * 1048576]
reads = [r for r in matrix if r["op"] == "verify"]
s.fact("io_matrix", [(r["op"], r["size"], r["bs"], r["ios"], r["ok"]) for r in matrix])
s.check(C.EVERY_MATRIX_WRITE_COMPLETED, len(writes) == 5
        and all(r["ok"] for r in writes), writes=writes)
s.check(C.EVERY_MATRIX_READ_VERIFIED, len(reads) == 5
        and all(r["ok"] for r in reads), reads=reads)
front = {r["phase"]: r for r in run.record("front_counters")}
wr_ios = sum(r["ios"] for r in writes)
rd_ios = sum(r["ios"] for r in reads)
pairs = front.get("matrix", {}).get("dix_req")
s.fact("matrix_requests", {"write_ios": wr_ios, "read_ios": rd_ios, "frontend_pairs": pairs})
s.check(C.EVERY_MATRIX_REQUEST_CARRIED_PI,
        isinstance(pairs, int) and pairs >= wr_ios + rd_ios, front=front)
s.check(C.BLKBACK_GAVE_THE_DISK_PI,
        back_matrix.get("dix_req", 0) >= wr_ios + rd_ios, blkback=back_matrix)
s.check(C.NO_DISK_PI_ERROR_IN_THE_MATRIX, rejected_matrix == rejected_before,
        before=rejected_before, after=rejected_matrix)

# Corruption on the read path.
bad_reads = run.record("corrupt_read")
s.fact("corrupt_reads", bad_reads)
s.check(C.reads_corrupted(CORRUPT), injected_reads == CORRUPT)
s.check(C.CORRUPTED_READS_FAILED_WITH_EILSEQ,
        len(bad_reads) == CORRUPT and all(not r["ok"] and r["errno"] == EILSEQ for r in bad_reads),
        reads=bad_reads)
clean = (run.record("clean_read") or [{}])[0]
s.check(C.BLOCKS_INTACT_AFTER_CORRUPTION, clean.get("ok") is True,
        read=clean)
guard_lines = [l for l in run.dmesg if "xvdb" in l and ("tag error" in l or "protection error" in l)]
s.fact("domu_protection_messages", guard_lines[:12])
s.check(C.DOMU_LOGGED_PROTECTION_ERRORS,
        any("guard tag error" in l for l in guard_lines)
        and any("protection error" in l for l in guard_lines), lines=guard_lines[:12])

# Corruption on the write path.
bad_writes = run.record("corrupt_write")
s.fact("corrupt_writes", bad_writes)
s.check(C.writes_corrupted(CORRUPT), injected_writes == CORRUPT)
s.check(C.DISK_REFUSED_CORRUPTED_WRITES,
        len(bad_writes) == CORRUPT and all(not r["ok"] and r["errno"] == EILSEQ for r in bad_writes),
        writes=bad_writes)
s.check(C.DISK_REPORTED_THE_INJECTED_ERRORS,
        rejected_end - rejected_mid == CORRUPT, mid=rejected_mid, end=rejected_end)
s.check(C.BOTH_DRIVERS_COUNTED_THE_ERRORS,
        back.get("dix_err") == CORRUPT and front.get("end", {}).get("dix_err") == CORRUPT,
        blkback=back, blkfront=front.get("end"))
clean_w = (run.record("clean_write") or [{}])[0]
s.check(C.NEXT_WRITE_SUCCEEDED, clean_w.get("ok") is True, write=clean_w)
s.check(C.NO_REQUEST_WENT_WITHOUT_PI,
        front.get("end", {}).get("dix_unprotected") == 0
        and front.get("end", {}).get("dix_refused") == 0, blkfront=front.get("end"))
s.check(C.NO_OOPS_IN_THE_DIX_DOMU, not run.kernel_problems(),
        lines=run.kernel_problems())
s.check(C.NO_DYING_DOMAIN_AFTER_THE_DIX_DOMU, lab.only_dom0_left())

# -- Runs B and C: other profiles; C without persistent grants ---------------
PERSISTENT = "/sys/module/xen_blkback/parameters/feature_persistent"
for name, params, want, persistent in (
        ("type3ip", dict(dif=3, dix=1, guard=1), ("T10-DIF-TYPE3-IP", "512"), "Y"),
        ("pi4k", dict(dif=1, dix=1, sector_size=4096), ("T10-DIF-TYPE1-CRC", "4096"), "N")):
    Path(PERSISTENT).write_text(persistent + "\n")
    disk = lab.scsi_debug(dev_size_mb=16, **params)
    prof = s.fact(f"{name}_dom0_profile", lab.integrity(disk))
    r = lab.run_domu(name, [lab.lean_disk(disk, "xvdb")], "domu-dix-profile.sh", timeout=180)
    g = (r.record("profile") or [{}])[0]
    s.fact(f"{name}_domu_profile", g)
    s.check(C.run_profile_is(name, want[0], want[1]),
            (g.get("format"), str(g.get("interval"))) == want == (
                prof["format"], prof["protection_interval_bytes"]), domu=g, dom0=prof)
    pairs = (r.record("front_counters") or [{}])[0].get("dix_req")
    s.check(C.run_io_with_pi_works(name), r.finished and all(
        x["ok"] for x in r.record("io")) and len(r.record("io")) == 2
        and isinstance(pairs, int) and pairs >= 8, io=r.record("io"), frontend_pairs=pairs)
    s.check(C.no_oops_in_the_domu_of(name), not r.kernel_problems(),
            lines=r.kernel_problems())
    connects = [l for l in lab.sh("dmesg", timeout=20).stdout.splitlines()
                if "xen-blkback: backend/vbd/" in l and "using" in l]
    s.check(C.run_persistent_grants_were(name, 'on' if persistent == 'Y' else 'off'),
            bool(connects) and ("persistent grants" in connects[-1]) == (persistent == "Y"),
            connect=connects[-1:])
Path(PERSISTENT).write_text("Y\n")

# -- Compatibility: every mix of old and new ends, and the admin toggle -------
disk = lab.scsi_debug(dev_size_mb=32, dif=1, dix=1)


def case(name: str, frontend: str, backend: str, enable: str | None = None) -> dict:
    lab.load_backend(backend)
    lab.signal(box, "")  # not the last domU's "bye"
    domu = lab.Domu(name, [lab.lean_disk(disk, "xvdb"), lab.lean_disk(box, "xvdc")],
                    "domu-plain.sh", frontend=frontend)
    # Paused, so that the toggle is in place before blkback connects.
    domu.start(paused=True)
    if enable is not None:
        lab.xs_write(f"{domu.backend()}/data-integrity-enable", enable)
    domu.unpause()
    # The domU waits, connected, until the nodes are read: once it powers
    # off, its frontend's nodes are gone.
    domu.wait_record("ready", 120, phase="done")
    nodes = s.fact(f"{name}_xenstore", {
        "backend_feature": lab.xs_read(f"{domu.backend()}/feature-data-integrity"),
        "frontend_feature": lab.xs_read(f"{domu.frontend()}/feature-data-integrity")})
    lab.signal(box, "bye")
    run = domu.finish(180)
    guest = (run.record("profile") or [{}])[0]
    io = run.record("io")
    s.fact(f"{name}_domu_profile", guest)
    s.check(C.case_has_no_profile(name), guest.get("format") == "none",
            profile=guest)
    s.check(C.case_plain_io_works(name), run.finished and len(io) == 2
            and all(r["ok"] for r in io), io=io)
    s.check(C.no_oops_in_the_domu_of(name), not run.kernel_problems(),
            lines=run.kernel_problems())
    s.check(C.case_domain_is_gone(name), lab.only_dom0_left())
    return nodes


nodes = case("new-front-old-back", "patched", "stock")
s.check(C.STOCK_BACKEND_NEVER_ADVERTISES,
        nodes["backend_feature"] is None and nodes["frontend_feature"] == "1", nodes=nodes)

nodes = case("old-front-new-back", "stock", "patched")
s.check(C.STOCK_FRONTEND_DOES_NOT_OPT_IN,
        nodes["backend_feature"] == "1" and nodes["frontend_feature"] is None, nodes=nodes)

nodes = case("admin-disabled", "patched", "patched", enable="0")
s.check(C.ADMIN_TOGGLE_ADVERTISES_ZERO,
        nodes["backend_feature"] == "0" and nodes["frontend_feature"] == "1", nodes=nodes)

lab.check_dom0_clean(s)
s.save()
