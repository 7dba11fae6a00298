"""The pipeline, DIX end to end with corruption injected in flight, and
every mix of old and new ends; one boot per series."""

from pathlib import Path

import labguest as lab

EILSEQ = 84
CORRUPT = 4  # reads, then writes, whose PI blkback corrupts

s = lab.Scenario()
job = lab.job()

# -- The pipeline: the checkout's series in both kernels, plain I/O ----------
ours = job["srcversion"]["patched"]
s.fact("series_modinfo", job["xendix"]["patched"])
s.check("dom0 runs our xen-blkback, not Debian's",
        lab.module_srcversion("xen_blkback") == ours["xen-blkback"]
        and "O" in lab.module_taint("xen_blkback"),
        srcversion=lab.module_srcversion("xen_blkback"), expected=ours["xen-blkback"],
        taint=lab.module_taint("xen_blkback"))

disk = lab.scsi_debug(dev_size_mb=64, dif=1, dix=1)
s.fact("backing_disk", disk)
s.fact("backing_integrity", lab.integrity(disk))
run = lab.run_domu("pipeline", [f"phy:{disk},xvdb,w"], "domu-io.sh")
s.check("the domU ran its script and powered off", run.finished,
        exit_status=run.exit_status, timed_out=run.timed_out, create_error=run.create_error)
front_module = (run.record("module") or [{}])[0]
s.check("the domU runs our xen-blkfront, not Debian's",
        front_module.get("srcversion") == ours["xen-blkfront"],
        domu=front_module, expected=ours["xen-blkfront"])
xvdb = run.record("xvdb")
s.check("the domU sees /dev/xvdb", bool(xvdb) and xvdb[0].get("present") is True,
        record=xvdb[0] if xvdb else None)
io = {r["op"]: r for r in run.record("io")}
s.check("1 MiB of random data written with O_DIRECT", io.get("write", {}).get("ok") is True,
        record=io.get("write"))
s.check("the data reads back identical", io.get("verify", {}).get("ok") is True,
        record=io.get("verify"))
s.check("after the domU is gone, no vbd is left in dom0",
        lab.wait_until(lambda: not lab.backend_vbds(), 30), vbds=lab.backend_vbds())
s.check("no BUG, WARNING or Oops in the domU's kernel log", not run.kernel_problems(),
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

domu = lab.Domu("dix", [f"phy:{disk},xvdb,w", f"phy:{box},xvdc,w"], "domu-dix-io.sh")
domu.start()
domid = domu.domid
ready = domu.wait_record("ready", 300, phase="corrupt-reads")
s.check("the domU reached the corrupt-read phase", ready is not None)
nodes = s.fact("xenstore", profile_nodes(domu))
back_matrix = s.fact("blkback_stats_after_matrix", lab.blkback_stats(domid))
rejected_matrix = s.fact("disk_pi_rejections_after_matrix", lab.disk_pi_rejections())

lab.blkback_knob("dix_corrupt_reads", CORRUPT)
lab.signal(box, "corrupt-reads")
domu.wait_record("ready", 120, phase="corrupt-writes")
injected_reads = s.fact("injected_read_corruptions", CORRUPT - lab.blkback_knob("dix_corrupt_reads"))
rejected_mid = lab.disk_pi_rejections()

lab.blkback_knob("dix_corrupt_writes", CORRUPT)
lab.signal(box, "corrupt-writes")
domu.wait_record("ready", 120, phase="done")
injected_writes = s.fact("injected_write_corruptions", CORRUPT - lab.blkback_knob("dix_corrupt_writes"))
back = s.fact("blkback_stats", lab.blkback_stats(domid))
rejected_end = s.fact("disk_pi_rejections_end", lab.disk_pi_rejections())
lab.signal(box, "bye")
run = domu.finish(120)

s.check("the DIX domU ran its script and powered off", run.finished,
        exit_status=run.exit_status, timed_out=run.timed_out, create_error=run.create_error,
        log=run.script_log[-10:])

# Profile.
guest = (run.record("profile") or [{}])[0]
s.check("the domU's xvdb has its dom0 disk's integrity format",
        guest.get("format") == dom0_profile["format"] == "T10-DIF-TYPE1-CRC",
        domu=guest, dom0=dom0_profile)
s.check("and its protection interval and tag size",
        str(guest.get("interval")) == dom0_profile["protection_interval_bytes"]
        and str(guest.get("tag_size")) == dom0_profile["tag_size"], domu=guest, dom0=dom0_profile)
s.check("blkback advertised the profile and the frontend opted in",
        nodes["backend_feature"] == "1" and nodes["frontend_feature"] == "1"
        and nodes["format"] == dom0_profile["format"]
        and nodes["interval"] == dom0_profile["protection_interval_bytes"], nodes=nodes)

s.check("the frontend confirmed the profile it registered (its data-integrity-format)",
        nodes["frontend_format"] == nodes["format"] == dom0_profile["format"], nodes=nodes)
confirmed = [l for l in lab.sh("dmesg", timeout=20).stdout.splitlines()
             if "data integrity confirmed by the frontend" in l]
s.check("blkback logged that the frontend confirmed the profile",
        any(f"/{domid}/51728: data integrity confirmed by the frontend: "
            f"{dom0_profile['format']}" in l for l in confirmed), lines=confirmed[-4:])

# Writes and reads.
matrix = run.record("io")
writes = [r for r in matrix if r["op"] == "write" and r["offset"] < 8 * 1048576]
reads = [r for r in matrix if r["op"] == "verify"]
s.fact("io_matrix", [(r["op"], r["size"], r["bs"], r["ios"], r["ok"]) for r in matrix])
s.check("every O_DIRECT write of 4 KiB to 1 MiB completed", len(writes) == 5
        and all(r["ok"] for r in writes), writes=writes)
s.check("every read came back verified and identical", len(reads) == 5
        and all(r["ok"] for r in reads), reads=reads)
front = {r["phase"]: r for r in run.record("front_counters")}
wr_ios = sum(r["ios"] for r in writes)
rd_ios = sum(r["ios"] for r in reads)
pairs = front.get("matrix", {}).get("dix_req")
s.fact("matrix_requests", {"write_ios": wr_ios, "read_ios": rd_ios, "frontend_pairs": pairs})
s.check("every request of the matrix carried PI (frontend pairs >= I/Os)",
        isinstance(pairs, int) and pairs >= wr_ios + rd_ios, front=front)
s.check("blkback gave the disk a PI payload for every I/O of the matrix",
        back_matrix.get("dix_req", 0) >= wr_ios + rd_ios, blkback=back_matrix)
s.check("the disk found no PI error in the matrix", rejected_matrix == rejected_before,
        before=rejected_before, after=rejected_matrix)

# Corruption on the read path.
bad_reads = run.record("corrupt_read")
s.fact("corrupt_reads", bad_reads)
s.check(f"{CORRUPT} reads whose PI was corrupted were injected", injected_reads == CORRUPT)
s.check("each corrupted read failed with EILSEQ, none returned data as good",
        len(bad_reads) == CORRUPT and all(not r["ok"] and r["errno"] == EILSEQ for r in bad_reads),
        reads=bad_reads)
clean = (run.record("clean_read") or [{}])[0]
s.check("the same blocks read back intact once the corruption stopped", clean.get("ok") is True,
        read=clean)
guard_lines = [l for l in run.dmesg if "xvdb" in l and ("tag error" in l or "protection error" in l)]
s.fact("domu_protection_messages", guard_lines[:12])
s.check("the domU's kernel logged the protection errors",
        any("guard tag error" in l for l in guard_lines)
        and any("protection error" in l for l in guard_lines), lines=guard_lines[:12])

# Corruption on the write path.
bad_writes = run.record("corrupt_write")
s.fact("corrupt_writes", bad_writes)
s.check(f"{CORRUPT} writes whose PI was corrupted were injected", injected_writes == CORRUPT)
s.check("the disk refused each corrupted write: EILSEQ in the domU",
        len(bad_writes) == CORRUPT and all(not r["ok"] and r["errno"] == EILSEQ for r in bad_writes),
        writes=bad_writes)
s.check("the disk reported exactly the injected PI errors (guard check failed)",
        rejected_end - rejected_mid == CORRUPT, mid=rejected_mid, end=rejected_end)
s.check("blkback and blkfront both counted the protection errors",
        back.get("dix_err") == CORRUPT and front.get("end", {}).get("dix_err") == CORRUPT,
        blkback=back, blkfront=front.get("end"))
clean_w = (run.record("clean_write") or [{}])[0]
s.check("the next write, uncorrupted, succeeded", clean_w.get("ok") is True, write=clean_w)
s.check("no request with PI went without it or was refused (dix_unprotected, dix_refused = 0)",
        front.get("end", {}).get("dix_unprotected") == 0
        and front.get("end", {}).get("dix_refused") == 0, blkfront=front.get("end"))
s.check("no BUG, WARNING or Oops in the DIX domU", not run.kernel_problems(),
        lines=run.kernel_problems())
s.check("after the DIX domU, no domain is left dying (all grants released)", lab.only_dom0_left())

# -- Runs B and C: other profiles; C without persistent grants ---------------
PERSISTENT = "/sys/module/xen_blkback/parameters/feature_persistent"
for name, params, want, persistent in (
        ("type3ip", dict(dif=3, dix=1, guard=1), ("T10-DIF-TYPE3-IP", "512"), "Y"),
        ("pi4k", dict(dif=1, dix=1, sector_size=4096), ("T10-DIF-TYPE1-CRC", "4096"), "N")):
    Path(PERSISTENT).write_text(persistent + "\n")
    disk = lab.scsi_debug(dev_size_mb=16, **params)
    prof = s.fact(f"{name}_dom0_profile", lab.integrity(disk))
    r = lab.run_domu(name, [f"phy:{disk},xvdb,w"], "domu-dix-profile.sh", timeout=180)
    g = (r.record("profile") or [{}])[0]
    s.fact(f"{name}_domu_profile", g)
    s.check(f"{name}: the domU's profile is {want[0]} with a {want[1]}-byte interval",
            (g.get("format"), str(g.get("interval"))) == want == (
                prof["format"], prof["protection_interval_bytes"]), domu=g, dom0=prof)
    pairs = (r.record("front_counters") or [{}])[0].get("dix_req")
    s.check(f"{name}: O_DIRECT I/O with PI works", r.finished and all(
        x["ok"] for x in r.record("io")) and len(r.record("io")) == 2
        and isinstance(pairs, int) and pairs >= 8, io=r.record("io"), frontend_pairs=pairs)
    s.check(f"{name}: no BUG, WARNING or Oops in the domU", not r.kernel_problems(),
            lines=r.kernel_problems())
    connects = [l for l in lab.sh("dmesg", timeout=20).stdout.splitlines()
                if "xen-blkback: backend/vbd/" in l and "using" in l]
    s.check(f"{name}: persistent grants were {'on' if persistent == 'Y' else 'off'}",
            bool(connects) and ("persistent grants" in connects[-1]) == (persistent == "Y"),
            connect=connects[-1:])
Path(PERSISTENT).write_text("Y\n")

# -- Compatibility: every mix of old and new ends, and the admin toggle -------
disk = lab.scsi_debug(dev_size_mb=32, dif=1, dix=1)


def case(name: str, frontend: str, backend: str, enable: str | None = None) -> dict:
    lab.load_backend(backend)
    domu = lab.Domu(name, [f"phy:{disk},xvdb,w"], "domu-plain.sh", frontend=frontend)
    # Paused, so that the toggle is in place before blkback connects.
    domu.start(paused=True)
    if enable is not None:
        lab.xs_write(f"{domu.backend()}/data-integrity-enable", enable)
    domu.unpause()
    domu.wait_record("profile", 120)
    nodes = s.fact(f"{name}_xenstore", {
        "backend_feature": lab.xs_read(f"{domu.backend()}/feature-data-integrity"),
        "frontend_feature": lab.xs_read(f"{domu.frontend()}/feature-data-integrity")})
    run = domu.finish(180)
    guest = (run.record("profile") or [{}])[0]
    io = run.record("io")
    s.fact(f"{name}_domu_profile", guest)
    s.check(f"{name}: the domU has no integrity profile", guest.get("format") == "none",
            profile=guest)
    s.check(f"{name}: 1 MiB of O_DIRECT I/O works", run.finished and len(io) == 2
            and all(r["ok"] for r in io), io=io)
    s.check(f"{name}: no BUG, WARNING or Oops in the domU", not run.kernel_problems(),
            lines=run.kernel_problems())
    s.check(f"{name}: the domain is gone, grants released", lab.only_dom0_left())
    return nodes


nodes = case("new-front-old-back", "patched", "stock")
s.check("new-front-old-back: the stock backend never advertises the feature",
        nodes["backend_feature"] is None and nodes["frontend_feature"] == "1", nodes=nodes)

nodes = case("old-front-new-back", "stock", "patched")
s.check("old-front-new-back: blkback advertises, the stock frontend does not opt in",
        nodes["backend_feature"] == "1" and nodes["frontend_feature"] is None, nodes=nodes)

nodes = case("admin-disabled", "patched", "patched", enable="0")
s.check("admin-disabled: blkback advertises feature-data-integrity = 0",
        nodes["backend_feature"] == "0" and nodes["frontend_feature"] == "1", nodes=nodes)

lab.check_dom0_clean(s)
s.save()
