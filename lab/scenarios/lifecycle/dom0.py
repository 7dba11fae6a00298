"""DIX through a guest's life, in one boot: a domU with 2 queues and a
4-page ring is saved and restored (onto DIX, onto a stock blkback, onto
DIX again) and migrated to this host with I/O running, re-binds its vbd,
has DIX switched off and on by ``xendix --now``, and sees its volume lose
its profile and move onto a disk of another profile.  Then a domU on the
other series' kernel does the dix scenario's I/O against this dom0.

xvdb is a device-mapper linear volume, so that dom0 can move it from one
disk to another under the connected vbd: first the NVMe namespace with PI
type 1 and 512-byte blocks, then a plain loop disk, then the namespace
with type 3 and 4096-byte blocks.
"""

import json
import os
import subprocess
import time
from pathlib import Path

import checks as C
import labguest as lab
from rings import RingProbe

EILSEQ, EIO = 84, 5
NAME, MIXED = "lc", "mx"
VOL, VOL_MIB = "lc-vol", 64
RING_PAGES = 4
FRONT = {"max_ring_page_order": 2, "max_queues": 2}
SAVE = Path("/run/lc.save")
XVDB = lab.XVDB
SCENARIO_END = time.monotonic() + lab.job()["timeout"] - 90

s = lab.Scenario()
type1, type3 = lab.nvme("dix0"), lab.nvme("dix1")
plain = lab.plain_disk(VOL_MIB)
vol = lab.dm_linear(VOL, type1, 0, VOL_MIB)
box = lab.mailbox()
s.fact("disks", {"type1": type1, "type3": type3, "plain": plain, "volume": vol,
                 "volume_profile": lab.integrity(vol)})
# The x86_32 ABI: no Debian 12 kernel can be a 32-bit PV guest (Linux
# dropped them in 5.9), so blkback's translation runs on its own.
abi = s.fact("blkif32_test", lab.run_blkif32_test())
s.check(C.X86_32_EVERY_CASE_PASSES,
        abi.get("loaded") is True and abi.get("rc") == 0 and len(abi.get("cases", {})) >= 20
        and all(v == "ok" for v in abi["cases"].values()), result=abi)
MUTATED = "x32_integrity_reserved_grefs"
bad = s.fact("blkif32_test_mutated", lab.run_blkif32_test(MUTATED))
s.check(C.X86_32_HARNESS_FAILS_ON_A_WRONG_FIELD,
        bad.get("loaded") is False and bad.get("rc", 0) != 0
        and bad.get("cases", {}).get(MUTATED, "").startswith(
            "FAIL field slot1.u.integrity.gref[15]")
        and sum(v != "ok" for v in bad.get("cases", {}).values()) == 1, result=bad)

# Loaded before the domU connects: a ring's slots are counted from 0.
probe = RingProbe(XVDB, vol, RING_PAGES)
domu = lab.Domu(NAME, [lab.lean_disk(vol, "xvdb"), lab.lean_disk(box, "xvdc")],
                "domu-lifecycle.sh", memory=192, front_params=FRONT, vcpus=2)


def left(timeout: float) -> float:
    return max(1.0, min(timeout, SCENARIO_END - time.monotonic()))


def ready(phase: str, timeout: float = 240) -> bool:
    """Until the domU says it is ready for ``phase``."""
    got = domu.wait_record("ready", left(timeout), phase=phase) is not None
    if not got:
        s.fact(f"not_ready_for_{phase}", {"dom0_problems": lab.dom0_kernel_problems()[:5]})
    return got


def state(phase: str, timeout: float = 240) -> dict:
    """The domU's state record at the end of ``phase`` ({} if none came)."""
    return s.fact(f"state_{phase}",
                  domu.wait_record("state", left(timeout), phase=phase) or {})


def ended(phase: str, timeout: float = 240) -> tuple[dict, dict]:
    """The domU's state at the end of ``phase`` and blkback's counters,
    read while the domU waits, idle, for the go."""
    st = state(phase, timeout)
    back = blkback(phase) if ready(f"{phase}-done", 30) else {}
    lab.signal(box, f"{phase}-done")
    return st, back


def blkback(phase: str, devid: int = XVDB) -> dict:
    try:
        return s.fact(f"blkback_{phase}", lab.blkback_stats(domu.domid, devid))
    except (RuntimeError, ValueError):
        return s.fact(f"blkback_{phase}", {})


def only_pairs(stats: dict) -> bool:
    """blkback served every read and write of this connection as a pair."""
    return (stats.get("dix_req", 0) > 0 and stats.get("dix_unprotected") == 0
            and stats.get("dix_req") == stats.get("rd_req", 0) + stats.get("wr_req", 0))


def xl(*args: str, timeout: float = 300) -> dict:
    t0 = time.monotonic()
    p = lab.sh(lab.XL, *args, check=False, timeout=left(timeout))
    return {"argv": ["xl", *args], "rc": p.returncode, "seconds": round(time.monotonic() - t0, 1),
            "stderr": p.stderr.strip()[-1500:]}


def verdict_of(status_json: str) -> str | None:
    """xvdb's verdict in ``xendix status --json``."""
    try:
        rows = json.loads(status_json)["vbds"]
    except (ValueError, KeyError, TypeError):
        return None
    return next((r.get("verdict") for r in rows if r.get("devid") == XVDB), None)


def status_now() -> tuple[subprocess.CompletedProcess[str], str | None]:
    """``xendix status --json`` of xvdb now: the run and xvdb's verdict."""
    p = lab.xendix("status", "--json", NAME, "xvdb")
    return p, verdict_of(p.stdout)


def held_by_dm_delay() -> int:
    """Bios of the volume that dm-delay holds now (its status: reads,
    writes and flushes waiting), 0 for another target."""
    fields = lab.sh("dmsetup", "status", VOL, check=False, timeout=20).stdout.split()
    if len(fields) < 4 or fields[2] != "delay":
        return 0
    return sum(int(f) for f in fields[3:] if f.isdigit())


def in_flight(timeout: float = 10) -> dict:
    """Wait, bounded, until dom0 has I/O of the volume in flight: bios that
    dm-delay holds (each for HOLD_MS: they cannot be missed), or in the
    block layer of the dm volume and the NVMe disk under it
    (/sys/block/X/inflight, which shows only a moment of each); what it saw."""
    seen: dict = {}

    def busy() -> bool:
        seen["held_by_dm_delay"] = held_by_dm_delay()
        for dev in (vol, type1):
            name = Path(os.path.realpath(dev)).name
            seen[name] = sum(int(x) for x in lab.read(f"/sys/block/{name}/inflight", "0 0").split())
        return any(seen.values())

    lab.wait_until(busy, timeout, interval=0.02)
    return seen


def relive(step: str, phase: str, how) -> tuple[dict, dict, list[dict]]:
    """One save/restore or migration with the domU's I/O running: ``how``
    does it; then tell the domU to finish and check what it saw.  Returns
    the domU's state, blkback's counters and the commands' results."""
    if not ready(f"{phase}-start"):
        return {}, {}, []
    lab.signal(box, f"{phase}-start")
    if not ready(f"{phase}-running"):
        return {}, {}, []
    time.sleep(1)  # into the loop
    flying = s.fact(f"{phase}_in_flight", in_flight())
    s.check(C.io_was_in_flight(step), any(flying.values()), in_flight=flying)
    domu.new_life()
    runs = how()
    s.fact(f"{phase}_commands", runs)
    lab.signal(box, phase)
    st, back = ended(phase)
    recs = [r for r in domu.records_so_far() if r.get("phase") == phase]
    chunks = [r for r in recs if r.get("record") == "busy"]
    again = [r for r in recs if r.get("record") == "busy_again"]
    s.fact(f"{phase}_io", {"chunks": len(chunks), "failed": [r for r in chunks if not r["ok"]][:4],
                           "again": len(again), "again_failed": [r for r in again if not r["ok"]][:4]})
    s.check(C.no_io_lost(step), len(chunks) >= 2 and all(r["ok"] for r in chunks)
            and again and all(r["ok"] for r in again),
            chunks=len(chunks), failed=[r for r in chunks if not r["ok"]][:4],
            again_failed=[r for r in again if not r["ok"]][:4])
    return st, back, runs


# -- 1. Connect: 2 queues, a 4-page ring; pairs on both, across the wrap ------
started = domu.start()
nodes = {}
connect = {}
if started and ready("rings"):
    connect = s.fact("state_connect", domu.wait_record("state", 5, phase="connect") or {})
    fe = domu.frontend()
    nodes = s.fact("ring_nodes", {k: lab.xs_read(f"{fe}/{k}") for k in
                                  ("multi-queue-num-queues", "ring-page-order",
                                   "feature-data-integrity", "data-integrity-format")})
    nodes["feature-flush-cache"] = lab.xs_read(f"{domu.backend()}/feature-flush-cache")
    lab.signal(box, "rings")
s.check(C.XVDB_HAS_THE_VOLUMES_PROFILE,
        (connect.get("format"), str(connect.get("interval"))) == ("T10-DIF-TYPE1-CRC", "512"),
        domu=connect)
rings_state, first = ended("rings", 400)
rings = s.fact("rings", probe.rings(domu.domid) if started else [])
# The stock blkback has no tracepoints, and ours cannot be unloaded while
# a probe is attached to them: the probe's work ends here.
probe.bpf.cleanup()
s.check(C.TWO_QUEUES_AND_A_4_PAGE_RING,
        nodes.get("multi-queue-num-queues") == "2" and nodes.get("ring-page-order") == "2"
        and rings_state.get("queues") == 2, nodes=nodes, domu=rings_state)
ring_io = [r for r in domu.records_so_far() if r.get("record") == "ring_io"]
s.check(C.RING_IO_VERIFIED, len(ring_io) == 64 and all(r["ok"] for r in ring_io),
        failed=[r for r in ring_io if not r["ok"]][:4], count=len(ring_io))
s.check(C.PAIRS_ON_EVERY_QUEUE,
        len(rings) == 2 and all(r["pairs"] > 0 and r["max_inflight_pairs"] >= 4 for r in rings),
        rings=rings)
# The probe placed every request in its ring only if it saw them all.
seen_all = (sum(r["requests"] for r in rings) == first.get("rd_req", -1) + first.get("wr_req", 0)
            and sum(r["flushes"] for r in rings) == first.get("f_req", -1))
s.check(C.PAIRS_CROSSED_THE_WRAP,
        seen_all and len(rings) == 2 and all(r["wraps"] > 0 for r in rings),
        rings=rings, blkback=first, probe_saw_every_request=seen_all,
        flush=nodes.get("feature-flush-cache"))
s.check(C.RINGS_ONLY_PAIRS, only_pairs(first), blkback=first)

# -- 2-4. Save and restore: onto DIX, onto stock blkback, onto DIX again -------
# Every I/O of the volume waits this long in dom0 (dm-delay) while the
# domain is saved, restored or migrated: the guest has requests in flight
# when it suspends (its tasks freeze in less, even under TCG on a busy
# host: 250 ms was not always enough), which blkif_recover() re-sends at
# resume.
HOLD_MS = 1000
lab.dm_retarget(VOL, type1, 0, VOL_MIB, delay_ms=HOLD_MS)
s.fact("volume_while_saving", {"table": lab.sh("dmsetup", "table", VOL).stdout.strip(),
                               "profile": lab.integrity(vol)})


def save_restore(flavour: str | None = None):
    def how() -> list[dict]:
        runs = [xl("save", NAME, str(SAVE))]
        if flavour:
            lab.load_backend(flavour)
            runs.append({"argv": ["load_backend", flavour], "rc": 0})
        runs.append(xl("restore", str(SAVE)))
        SAVE.unlink(missing_ok=True)
        return runs
    return how


AIO_DEPTH = 16  # the domU's I/Os in flight at most (domu-lifecycle.sh's busy)


def plain_requests(back: dict) -> int:
    """Reads and writes of this connection that blkback got without PI."""
    return back.get("rd_req", 0) + back.get("wr_req", 0) - back.get("dix_req", 0)


def on_dix(step: str, st: dict, back: dict, before: dict, plain_allowed: int) -> None:
    """After a resume onto DIX.  Requests that blkif_recover() re-sends were
    prepared under the previous connection: without PI if that one had
    dropped it (the guest verified none of them then), at most the domU's
    AIO depth of them.  Every other read and write is a pair, and the
    frontend sent nothing prepared with PI without it."""
    plain = plain_requests(back)
    s.check(C.profile_in_use(step),
            st.get("format") == "T10-DIF-TYPE1-CRC" and st.get("read_verify") == 1
            and st.get("write_generate") == 1 and back.get("dix_req", 0) > 0
            and 0 <= plain <= plain_allowed
            and st.get("dix_unprotected") == before.get("dix_unprotected"),
            plain=plain, domu=st, blkback=back, frontend_before=before,
            plain_allowed=plain_allowed)


def succeeded(step: str, runs: list[dict]) -> None:
    s.check(C.step_succeeded(step), bool(runs) and all(r["rc"] == 0 for r in runs),
            commands=runs)


st, back, runs = relive(C.SAVE_RESTORE_DIX, "restored-dix", save_restore())
succeeded(C.SAVE_RESTORE_DIX, runs)
on_dix(C.SAVE_RESTORE_DIX, st, back, rings_state, 0)
s.check(C.RESTORE_ONLY_PAIRS, only_pairs(back), blkback=back)

stock_state, stock_back, runs = relive(C.SAVE_RESTORE_STOCK, "restored-stock",
                                       save_restore("stock"))
succeeded(C.SAVE_RESTORE_STOCK, runs)
status, verdict = status_now()
s.fact("status_on_stock", lab.summary(status))
s.check(C.STOCK_STATUS_IS_NOT_PROTECTED,
        status.returncode == 0 and verdict not in ("protected", None),
        verdict=verdict, status=lab.summary(status))

back_state, back, runs = relive(C.SAVE_RESTORE_BACK, "restored-back", save_restore("patched"))
succeeded(C.SAVE_RESTORE_BACK, runs)
on_dix(C.SAVE_RESTORE_BACK, back_state, back, stock_state, AIO_DEPTH)
s.fact("requests_resent_without_pi", {"blkback_plain": plain_requests(back),
                                      "blkfront_unprotected_on_stock":
                                          stock_state.get("dix_unprotected")})
back_connection = back

# -- 5. Live migration to this host: Debian's Xen refuses it --------------------
domid_before = domu.domid if lab.domain_exists(NAME) else -1
st, back, runs = relive(C.MIGRATE, "migrated",
                        lambda: [xl("migrate", "-s", "", NAME, "xl migrate-receive", timeout=400)])
err = runs[0]["stderr"] if runs else ""
s.check(C.MIGRATION_REFUSED_BEFORE_SUSPEND,
        bool(runs) and runs[0]["rc"] != 0 and "Failed to enable logdirty: 95" in err
        and lab.domain_exists(NAME) and domu.domid == domid_before,
        commands=runs, domid_before=domid_before)
# The same connection: nothing more went without PI.
on_dix(C.MIGRATE, st, back, back_state, plain_requests(back_connection))

# -- 6-7. xendix disable --now, enable --now -------------------------------------
if ready("disabled"):  # the domU is idle
    lab.dm_retarget(VOL, type1, 0, VOL_MIB)  # no more holding
verdicts: dict = {}
for phase, verb in (("disabled", "disable"), ("enabled", "enable")):
    if not ready(phase):
        break
    run = lab.xendix(verb, NAME, "xvdb", "--now", "--json")
    s.fact(f"{verb}_now", lab.summary(run))
    lab.signal(box, phase)
    st, back = ended(phase)
    verdicts[phase] = status_now()[1]
    io = [r for r in domu.records_so_far() if r.get("record") == phase]
    if phase == "disabled":
        s.check(C.DISABLE_NOW_DROPS_THE_PROFILE,
                run.returncode == 0 and st.get("format") == "none" and len(io) == 3
                and all(r["ok"] for r in io) and back.get("dix_req") == 0
                and back.get("wr_req", 0) > 0, run=lab.summary(run), domu=st, io=io, blkback=back)
    else:
        s.check(C.ENABLE_NOW_GIVES_IT_BACK,
                run.returncode == 0 and st.get("format") == "T10-DIF-TYPE1-CRC" and len(io) == 3
                and all(r["ok"] for r in io) and only_pairs(back),
                run=lab.summary(run), domu=st, io=io, blkback=back)
s.check(C.STATUS_FOLLOWS_THE_TOGGLE,
        verdicts.get("disabled") == "off" and verdicts.get("enabled") == "protected",
        verdicts=verdicts)

# -- 8. The volume loses its profile under the connected vbd --------------------
if ready("lost"):
    before = blkback("before-lost")
    lab.dm_retarget(VOL, plain, 0, VOL_MIB)
    prof = s.fact("volume_profile_lost", lab.integrity(vol))
    s.check(C.VOLUME_LOST_ITS_PROFILE, prof.get("format") == "none", profile=prof)
    lab.signal(box, "lost")
    st, back = ended("lost")
    io = [r for r in domu.records_so_far() if r.get("record") in ("lost_write", "lost_read")]
    s.check(C.LOST_PAIRS_FAIL_WITH_EIO,
            len(io) == 2 and all(not r["ok"] and r["errno"] == EIO for r in io), io=io)
    lines = [l for l in lab.sh("dmesg", timeout=20).stdout.splitlines()
             if "integrity" in l and "xen-blkback" in l][-6:]
    s.check(C.LOST_IS_COUNTED,
            back.get("dix_rejected", 0) - before.get("dix_rejected", 0) >= 2
            and any("profile" in l for l in lines), blkback=back, before=before, dmesg=lines)
    status, verdict = status_now()
    s.fact("status_after_lost", lab.summary(status))
    s.check(C.STATUS_SAYS_PROFILE_CHANGED, verdict == "profile-changed",
            verdict=verdict, status=lab.summary(status))

# -- 9. Re-attached without a profile ---------------------------------------------
if ready("reattached-plain"):
    run = lab.xendix("enable", NAME, "xvdb", "--now", "--json")
    s.fact("reattach_plain", lab.summary(run))
    lab.signal(box, "reattached-plain")
    st, back = ended("reattached-plain")
    io = [r for r in domu.records_so_far() if r.get("record") == "plain"]
    feature = lab.xs_read(f"{domu.backend()}/feature-data-integrity")
    s.check(C.REATTACH_WITHOUT_PROFILE,
            run.returncode == 0 and feature == "0" and st.get("format") == "none" and len(io) == 2
            and all(r["ok"] for r in io) and back.get("dix_req") == 0,
            run=lab.summary(run), feature=feature, domu=st, io=io, blkback=back)

# -- 10. Onto a disk of another profile ------------------------------------------
if ready("reattached-type3"):
    lab.dm_retarget(VOL, type3, 0, VOL_MIB)
    s.fact("volume_profile_type3", lab.integrity(vol))
    run = lab.xendix("enable", NAME, "xvdb", "--now", "--json")
    s.fact("reattach_type3", lab.summary(run))
    lab.signal(box, "reattached-type3")
    st, back = ended("reattached-type3")
    io = [r for r in domu.records_so_far() if r.get("record") == "type3"]
    s.check(C.REATTACH_WITH_ANOTHER_PROFILE,
            run.returncode == 0 and st.get("format") == "T10-DIF-TYPE3-CRC"
            and str(st.get("interval")) == "4096" and st.get("logical_block_size") == 4096
            and len(io) == 4 and all(r["ok"] for r in io) and only_pairs(back),
            run=lab.summary(run), domu=st, io=io, blkback=back)
run = domu.finish(left(120))
s.check(C.DOMU_RAN_ITS_SCRIPT, run.finished, exit_status=run.exit_status,
        timed_out=run.timed_out, create_error=run.create_error, log=run.script_log[-15:],
        last=run.records[-4:])
s.fact("lifecycle_domu_seconds", run.seconds)
msgs = [l for l in run.dmesg if "protection information" in l or "xvdb" in l][:30]
s.fact("lifecycle_domu_messages", msgs)
s.check(C.STOCK_DROPS_THE_PROFILE_VISIBLY,
        any("protection information dropped" in l for l in run.dmesg)
        and stock_state.get("read_verify") == 0 and stock_state.get("write_generate") == 0
        and "dix_req" not in stock_back, domu=stock_state, blkback=stock_back, messages=msgs)
# Whether requests are still in flight when the guest suspends is up to
# its freeze, even with the volume's I/O held for 1 s: on 6.1 it counted
# 16 in some runs and 0 in others, so this is a fact, not a check.
s.fact("stock_requests_resent_without_pi", stock_state.get("dix_unprotected"))
s.check(C.BACK_RESTORES_THE_PROFILE,
        any("protection information restored" in l for l in run.dmesg), messages=msgs)
lc_problems = run.kernel_problems()
lab.dm_remove(VOL)

# -- Mixed kernels: a domU of the other series -------------------------------------
other = lab.job().get("other_series", {})
s.fact("mixed_kernels", {"dom0": lab.job()["series"], "domu": other.get("series")})
mvol = lab.dm_linear("mx-vol", type1, VOL_MIB, 16)
lab.signal(box, "")
mx = lab.Domu(MIXED, [lab.lean_disk(mvol, "xvdb"), lab.lean_disk(box, "xvdc")],
              "domu-mixed-io.sh", kernel="domu-other")
mx_ok = mx.start()
mx_id = mx.domid if mx_ok else -1
nodes = {}
if mx_ok and mx.wait_record("ready", left(300), phase="corrupt-reads"):
    nodes = {k: lab.xs_read(f"{mx.frontend()}/{k}") for k in ("data-integrity-format",)}
    reads = lab.PiFault(mx_id, XVDB, "read")
    reads.arm(4)
    lab.signal(box, "corrupt-reads")
    if mx.wait_record("ready", left(120), phase="corrupt-writes"):
        s.fact("mixed_injected_reads", reads.injected())
        writes = lab.PiFault(mx_id, XVDB, "write")
        writes.arm(4)
        lab.signal(box, "corrupt-writes")
        if mx.wait_record("ready", left(120), phase="done"):
            s.fact("mixed_injected_writes", writes.injected())
mx_back = lab.blkback_stats(mx_id, XVDB) if mx_ok and lab.domain_exists(MIXED) else {}
lab.signal(box, "bye")
mrun = mx.finish(left(120))
s.check(C.MIXED_DOMU_RAN_ITS_SCRIPT, mrun.finished, exit_status=mrun.exit_status,
        timed_out=mrun.timed_out, create_error=mrun.create_error, log=mrun.script_log[-10:])
g = (mrun.record("profile") or [{}])[0]
s.check(C.MIXED_PROFILE, g.get("format") == "T10-DIF-TYPE1-CRC" == nodes.get("data-integrity-format")
        and str(g.get("interval")) == "512", domu=g, nodes=nodes)
io = mrun.record("io")
front = {r["phase"]: r for r in mrun.record("front_counters")}
s.check(C.MIXED_ROUND_TRIP,
        len(io) == 11 and all(r["ok"] for r in io)
        and front.get("matrix", {}).get("dix_req", 0) >= sum(r["ios"] for r in io[:10]),
        io=[(r["op"], r["size"], r["ok"]) for r in io], front=front)
bad = mrun.record("corrupt_read")
s.check(C.MIXED_CORRUPTED_READS_FAIL,
        len(bad) == 4 and all(not r["ok"] and r["errno"] == EILSEQ for r in bad), reads=bad)
bad = mrun.record("corrupt_write")
s.check(C.MIXED_CORRUPTED_WRITES_REFUSED,
        len(bad) == 4 and all(not r["ok"] and r["errno"] == EILSEQ for r in bad), writes=bad)
s.check(C.MIXED_COUNTERS, mx_back.get("dix_err") == 4 and front.get("end", {}).get("dix_err") == 4,
        blkback=mx_back, blkfront=front.get("end"))
s.check(C.NO_OOPS_IN_THE_DOMUS, not lc_problems and not mrun.kernel_problems(),
        lifecycle=lc_problems, mixed=mrun.kernel_problems())
s.check(C.NO_DOMAIN_LEFT, lab.only_dom0_left())
lab.dm_remove("mx-vol")
lab.remove_plain_disk(plain)
lab.check_dom0_clean(s)
s.save()
