"""A hostile frontend: malformed DIX request pairs must each be refused
cleanly, and well-formed pairs must still work afterwards.

One domU, fuzzfront in place of xen-blkfront, four vbds, whose cases dom0
names in each backend directory ("fuzzfront-cases") before the domU runs:

- xvdb, a scsi_debug DIX disk: every case (malformed pairs, reserved
  fields, the flood, good pairs, pairs with 4 pages of PI);
- xvdc, the same disk, where fuzzfront does not opt in to DIX: flagged
  operations on a connection without DIX;
- xvdd, an NVMe namespace with PI (type 1, 512-byte blocks, separate
  metadata; the nvme driver takes one integrity segment per command): the
  pairs with 4 pages of PI;
- xvde, the scsi_debug disk again, where fuzzfront asks for persistent
  grants and persistent PI grants (feature-persistent and
  feature-persistent-integrity = 1): pairs whose PI grants blkback keeps
  mapped (patch 0014), hostile and good.
"""

import re
import subprocess
from pathlib import Path

import checks as C
import labguest as lab

OKAY, ERROR, EOPNOTSUPP, EINTEGRITY = 0, -1, -2, -3
READ, WRITE, FLUSH, DISCARD, INDIRECT, INTEGRITY, FLAG = 0, 1, 3, 5, 6, 7, 0x80
DEVID = {v: lab.devid(v) for v in ("xvdb", "xvdc", "xvdd", "xvde")}
MODE = {"xvdb": "all", "xvdc": "nodix", "xvdd": "multipage", "xvde": "persistent"}
FLOOD_PAIRS = 320
NODIX_ID = 100

# fuzzfront's persistent cases on xvde, in its order (case n uses id n):
# fuzz_persistent_cases in lab/domu/fuzzfront/fuzzfront.c.
P_ROUNDS = 3
P_SECOND_ID = 100  # FUZZ_P_SECOND_ID: the id of the second pair of persistent_pi_shared
P_CASES = ["persistent_write_ok", "persistent_pi_is_data", "persistent_pi_shared",
           "persistent_pi_read_only", "persistent_pi_revoked",
           *[f"persistent_reuse_{op}_{k}" for k in range(P_ROUNDS) for op in ("write", "read")],
           "persistent_pi_kept"]
P_ID = {name: n + 1 for n, name in enumerate(P_CASES)}
# blkback's module parameters (/sys/module/xen_blkback/parameters): its
# own knobs, no test hook.  log_stats makes each ring's thread log its
# persistent grant count ("pg: N/max") when it stops, i.e. at disconnect;
# persistent_grant_unused_seconds (60 by default) purges grants unused that
# long, which could happen to xvde's while the other vbds run their cases.
BLKBACK_PARAMS = Path("/sys/module/xen_blkback/parameters")
KEEP_UNUSED_GRANTS_S = 3600
# What blkback logs, at alert level and rate-limited, when a request names
# a grant that a request in flight uses (get_persistent_gnt()) and it then
# cannot add the second mapping to its persistent grants
# (add_persistent_gnt()).
GRANT_IN_USE = "requesting a grant already in use"
GRANT_IN_TREE = "trying to add a gref that's already in the tree"

# fuzzfront's malformed cases (lab/domu/fuzzfront/fuzzfront.c), each
# with the statement a reviewer reads and the responses the protocol
# (docs/protocol.md, "Backend validation") prescribes: (status, operation,
# id) of each slot consumed.  Case n uses id n.
MALFORMED = [
    ("flag_last", C.FLAGGED_READ_AS_LAST_SLOT,
     [(FLAG | READ, 1)]),
    ("second_wrong_op", C.FLAGGED_READ_THEN_PLAIN_READ,
     [(FLAG | READ, 2), (READ, 2)]),
    ("second_flagged", C.FLAGGED_READ_THEN_FLAGGED_READ,
     [(FLAG | READ, 3), (FLAG | READ, 3)]),
    ("wrong_id", C.INTEGRITY_SLOT_WITH_ANOTHER_ID,
     [(FLAG | READ, 4), (INTEGRITY, 104)]),
    ("nr_segments_0", C.INTEGRITY_SLOT_WITH_0_SEGMENTS,
     [(FLAG | READ, 5), (INTEGRITY, 5)]),
    ("nr_segments_17", C.INTEGRITY_SLOT_WITH_17_SEGMENTS,
     [(FLAG | READ, 6), (INTEGRITY, 6)]),
    ("pi_bytes_short", C.PI_BYTES_ONE_TUPLE_SHORT,
     [(FLAG | READ, 7), (INTEGRITY, 7)]),
    ("pi_bytes_huge", C.PI_BYTES_HUGE,
     [(FLAG | READ, 8), (INTEGRITY, 8)]),
    ("nr_segments_mismatch", C.TWO_SEGMENTS_FOR_ONE_PAGE_OF_PI,
     [(FLAG | READ, 9), (INTEGRITY, 9)]),
    ("gref_out_of_range", C.PI_GRANT_BEYOND_THE_TABLE,
     [(FLAG | READ, 10), (INTEGRITY, 10)]),
    ("gref_revoked", C.PI_GRANT_NEVER_LEFT_GRANTED,
     [(FLAG | READ, 11), (INTEGRITY, 11)]),
    ("pi_read_only_on_read", C.PI_PAGE_READ_ONLY_FOR_A_READ,
     [(FLAG | READ, 12), (INTEGRITY, 12)]),
    ("data_gref_revoked", C.DATA_GRANT_DOES_NOT_MAP,
     [(FLAG | READ, 13), (INTEGRITY, 13)]),
    ("second_pi_page_bad", C.SECOND_PI_PAGE_DOES_NOT_MAP, [(FLAG | READ, 14), (INTEGRITY, 14)]),
    ("data_nr_segments_0", C.FLAGGED_READ_WITHOUT_DATA,
     [(FLAG | READ, 15), (INTEGRITY, 15)]),
    ("flagged_flush", C.FLAGGED_FLUSH,
     [(FLAG | FLUSH, 16), (INTEGRITY, 16)]),
    ("flagged_discard", C.FLAGGED_DISCARD,
     [(FLAG | DISCARD, 17), (INTEGRITY, 17)]),
    ("flagged_integrity", C.FLAGGED_INTEGRITY_SLOT,
     [(FLAG | INTEGRITY, 18), (INTEGRITY, 18)]),
    ("lone_integrity", C.LONE_INTEGRITY_SLOT,
     [(INTEGRITY, 19)]),
    # Reserved fields: a pair that would work but for one of them.
    ("pad1_nonzero", C.RESERVED_PAD1_NOT_ZERO,
     [(FLAG | READ, 21), (INTEGRITY, 21)]),
    ("gref_past_nr_segments", C.RESERVED_GREF1_GRANTED, [(FLAG | READ, 22), (INTEGRITY, 22)]),
    ("gref_last_nonzero", C.RESERVED_GREF15_GRANTED, [(FLAG | READ, 23), (INTEGRITY, 23)]),
]

# On the vbd where fuzzfront did not opt in (case n uses id n, its plain
# request id n + 100): (case, statement, [(status, operation, id)...]).
NODIX = [
    ("nodix_flagged_read", C.NO_DIX_FLAGGED_READ,
     [(EOPNOTSUPP, FLAG | READ, 1), (OKAY, READ, 1 + NODIX_ID)]),
    ("nodix_flagged_write", C.NO_DIX_FLAGGED_WRITE,
     [(EOPNOTSUPP, FLAG | WRITE, 2), (OKAY, WRITE, 2 + NODIX_ID)]),
    ("nodix_flagged_indirect", C.NO_DIX_FLAGGED_INDIRECT_READ,
     [(EOPNOTSUPP, FLAG | INDIRECT, 3), (OKAY, READ, 3 + NODIX_ID)]),
    ("nodix_pair", C.NO_DIX_WHOLE_PAIR,
     [(EOPNOTSUPP, FLAG | READ, 4), (ERROR, INTEGRITY, 4)]),
    ("nodix_read_ok", C.NO_DIX_PLAIN_READ_OKAY, [(OKAY, READ, 5)]),
]


def ints(value) -> list[int]:
    """fuzzfront's "a,b" lists (a lone number comes as an int)."""
    if value is None or value == "none":
        return []
    return [int(v) for v in str(value).split(",")]


def answered(r: dict) -> list:
    """(status, operation, id) of each response of a case."""
    return list(zip(ints(r.get("status")), ints(r.get("ops")), ints(r.get("ids"))))


def pair_ok(r: dict, status: int, op: int, pair_id: int) -> bool:
    """A case of one pair, answered with ``status`` on both slots, each
    naming its slot."""
    return (r.get("slots") == r.get("responses") == 2
            and answered(r) == [(status, FLAG | op, pair_id), (status, INTEGRITY, pair_id)])


def data_and_pi_match(r: dict) -> bool:
    return r.get("data_match") == 1 and r.get("pi_match") == 1


def blkback_params() -> dict:
    return {p.name: lab.read(p) for p in sorted(BLKBACK_PARAMS.glob("*"))}


def set_blkback_param(name: str, value: object) -> str | None:
    """Set one of blkback's module parameters; the error, if any."""
    try:
        (BLKBACK_PARAMS / name).write_text(f"{value}\n")
    except OSError as e:
        return f"{name}: {e}"
    return None


s = lab.Scenario()
disk = lab.scsi_debug(dev_size_mb=64, dif=1, dix=1)
s.fact("dom0_profile", lab.integrity(disk))
nvme = lab.nvme("dix0")
nvme_profile = s.fact("nvme_dom0_profile", lab.integrity(nvme))
nvme_limits = s.fact("nvme_dom0_queue_limits", lab.queue_limits(nvme))
s.check(C.NVME_NAMESPACE_WITH_PI,
        nvme_profile["format"] == "T10-DIF-TYPE1-CRC"
        and nvme_profile["protection_interval_bytes"] == "512"
        and nvme_limits["max_integrity_segments"] == 1,
        disk=nvme, profile=nvme_profile, limits=nvme_limits)
nvme_pi_before = lab.nvme_pi_rejections()
params_before = s.fact("blkback_params", blkback_params())
param_errors = [e for e in [set_blkback_param("persistent_grant_unused_seconds",
                                              KEEP_UNUSED_GRANTS_S)] if e]

domu = lab.Domu("hostile", [lab.lean_disk(disk, "xvdb"), lab.lean_disk(disk, "xvdc"),
                            lab.lean_disk(nvme, "xvdd"), lab.lean_disk(disk, "xvde")],
                "domu-hostile.sh", frontend="fuzz")
started = domu.start(paused=True)
if started:
    for dev, mode in MODE.items():
        lab.xs_write(f"{domu.backend(DEVID[dev])}/fuzzfront-cases", mode)
    domu.unpause()
# fuzzfront's records come all at once, when every vbd is done.
done = domu.wait_record("fuzz_done", 300) if started else None
back: dict = {}
xs: dict = {}
xs_persistent: dict = {}
domid = None
try:
    domid = domu.domid
    back = {dev: lab.blkback_stats(domid, devid) for dev, devid in DEVID.items()}
    xs = {dev: {"backend": lab.xs_read(f"{domu.backend(devid)}/feature-data-integrity"),
                "frontend": lab.xs_read(f"{domu.frontend(devid)}/feature-data-integrity")}
          for dev, devid in DEVID.items()}
    xs_persistent = {
        "backend": lab.xs_read(f"{domu.backend(DEVID['xvde'])}/feature-persistent"),
        "frontend": lab.xs_read(f"{domu.frontend(DEVID['xvde'])}/feature-persistent"),
        "frontend_integrity": lab.xs_read(
            f"{domu.frontend(DEVID['xvde'])}/feature-persistent-integrity")}
except RuntimeError:
    pass
s.fact("blkback_stats", back)
s.fact("feature_data_integrity", xs)
s.fact("feature_persistent_xvde", xs_persistent)
nvme_pi = s.fact("nvme_pi_rejections", lab.nvme_pi_rejections() - nvme_pi_before)
# Closing each vbd under fuzzfront: it must let go of the ring and blkback
# of every grant.  Each ring's thread logs its persistent grants as it
# stops (log_stats; set only now: its periodic line resets the rd_req and
# wr_req counters read above).
param_errors += [e for e in [set_blkback_param("log_stats", 1)] if e]
detach = {}
for dev in DEVID:
    try:
        proc = lab.sh(lab.XL, "block-detach", "hostile", dev, check=False, timeout=60)
        detach[dev] = {"rc": proc.returncode, "stderr": proc.stderr.strip()[-300:]}
    except subprocess.TimeoutExpired:
        detach[dev] = {"rc": None, "stderr": "timed out"}
s.fact("block_detach", detach)
vbds_after_detach = s.fact("vbds_after_detach", lab.backend_vbds())
run = domu.finish(120)

s.fact("fuzz_done", run.record("fuzz_done"))
done_vbds = {r.get("vbd") for r in run.record("fuzz_done")}
s.check(C.FUZZFRONT_RAN_EVERY_CASE,
        done is not None and run.finished and done_vbds == set(DEVID.values())
        and all(r.get("leaked") is not None for r in run.record("fuzz_done")),
        done=run.record("fuzz_done"), exit_status=run.exit_status, timed_out=run.timed_out,
        create_error=run.create_error, log=run.script_log[-10:])
connected = {r.get("vbd"): r for r in run.record("fuzz_connected")}
s.fact("fuzz_connected", connected)


def offered(dev: str) -> bool:
    c = connected.get(DEVID[dev], {})
    return c.get("feature") == 1 and c.get("interval") == 512 and c.get("tuple_size") == 8


s.check(C.BLKBACK_ADVERTISED_DIX,
        offered("xvdb") and connected.get(DEVID["xvdb"], {}).get("opted_in") == 1,
        connected=connected.get(DEVID["xvdb"]))

records = run.record("fuzz")
by_vbd = {dev: {r.get("case"): r for r in records if r.get("vbd") == devid}
          for dev, devid in DEVID.items()}
s.fact("cases", by_vbd)
cases = by_vbd["xvdb"]

for name, statement, slots in MALFORMED:
    r = cases.get(name, {})
    s.check(statement, r.get("responses") == len(slots) == r.get("slots")
            and ints(r.get("status")) == [ERROR] * len(slots), case=r)

named = {}
for name, _, slots in MALFORMED:
    r = cases.get(name, {})
    got = list(zip(ints(r.get("ops")), ints(r.get("ids"))))
    if got != slots:
        named[name] = {"want": slots, "got": got}
s.check(C.EACH_ERROR_NAMES_ITS_SLOT, not named,
        mismatches=named)

unaligned = cases.get("unaligned", {})
s.check(C.UNALIGNED_READ_REFUSED,
        unaligned.get("skipped") == 1 and connected.get(DEVID["xvdb"], {}).get("interval") == 512
        or ints(unaligned.get("status")) == [ERROR, ERROR], case=unaligned)

# The flood.
flood = cases.get("flood", {})
s.check(C.flood_every_slot_answered(FLOOD_PAIRS),
        flood.get("pairs") == FLOOD_PAIRS and flood.get("slots") == 2 * FLOOD_PAIRS
        and flood.get("responses") == 2 * FLOOD_PAIRS and flood.get("errors") == 2 * FLOOD_PAIRS
        and flood.get("wrong") == 0, case=flood)
s.check(C.FLOOD_FILLED_THE_RING,
        isinstance(flood.get("full"), int) and flood["full"] >= 10, case=flood)
s.check(C.FLOOD_LEFT_NO_GRANT_MAPPED,
        flood.get("leaked") == 0, case=flood)

read_ok = cases.get("read_ok", {})
s.check(C.GOOD_READ_PAIR_AFTERWARDS,
        read_ok.get("responses") == 2 and ints(read_ok.get("status")) == [OKAY, OKAY]
        and ints(read_ok.get("ops")) == [FLAG | READ, INTEGRITY], case=read_ok)
write_ok = cases.get("write_ok", {})
s.check(C.GOOD_WRITE_PAIR,
        write_ok.get("responses") == 2 and ints(write_ok.get("status")) == [OKAY, OKAY]
        and ints(write_ok.get("ops")) == [FLAG | WRITE, INTEGRITY], case=write_ok)
bad_guard = cases.get("write_bad_guard", {})
s.check(C.WRONG_GUARD_GETS_EINTEGRITY,
        bad_guard.get("responses") == 2
        and ints(bad_guard.get("status")) == [EINTEGRITY, EINTEGRITY], case=bad_guard)
read_back = cases.get("read_back", {})
s.check(C.GOOD_WRITE_READS_BACK,
        ints(read_back.get("status")) == [OKAY, OKAY] and read_back.get("data_match") == 1
        and read_back.get("pi_match") == 1, case=read_back)


# Pairs with 4 pages of PI, on scsi_debug and on NVMe.
def multipage_checks(disk_name: str, found: dict) -> None:
    def pair(name: str, status: int, op: int) -> tuple[bool, dict]:
        r = found.get(name, {})
        return (r.get("responses") == 2 and ints(r.get("status")) == [status, status]
                and ints(r.get("ops")) == [FLAG | op, INTEGRITY]), r

    def read_back_ok(name: str) -> tuple[bool, dict]:
        ok, r = pair(name, OKAY, READ)
        return ok and r.get("data_match") == 1 and r.get("pi_match") == 1, r

    ok, r = pair("multipage_write_ok", OKAY, WRITE)
    s.check(C.multipage_write_ok(disk_name), ok, case=r)
    ok, r = read_back_ok("multipage_read_back")
    s.check(C.multipage_read_back(disk_name), ok, case=r)
    ok_w, w = pair("multipage_skip_write_ok", OKAY, WRITE)
    ok_r, r = read_back_ok("multipage_skip_read_back")
    s.check(C.multipage_offset_data_intact(disk_name), ok_w and ok_r,
            write=w, read=r)
    ok, r = pair("multipage_bad_guard_page3", EINTEGRITY, WRITE)
    s.check(C.multipage_bad_guard_in_third_page(disk_name), ok, case=r)


multipage_checks("scsi_debug", cases)
s.check(C.BLKBACK_COUNTED_TWO_INTEGRITY_ERRORS,
        back.get("xvdb", {}).get("dix_err") == 2, blkback=back.get("xvdb"))

# The vbd where fuzzfront did not opt in.
nodix = by_vbd["xvdc"]
s.check(C.NO_DIX_OFFERED_BUT_NOT_OPTED_IN,
        offered("xvdc") and connected.get(DEVID["xvdc"], {}).get("opted_in") == 0
        and xs.get("xvdc", {}).get("backend") == "1" and xs.get("xvdc", {}).get("frontend") is None,
        connected=connected.get(DEVID["xvdc"]), xenstore=xs.get("xvdc"))
for name, statement, want in NODIX:
    r = nodix.get(name, {})
    s.check(statement, r.get("slots") == r.get("responses") == len(want)
            and answered(r) == want, case=r, want=want)
s.check(C.NO_DIX_NO_PAIR_TAKEN,
        back.get("xvdc", {}).get("dix_req") == 0 and back.get("xvdc", {}).get("rd_req", 0) >= 3,
        blkback=back.get("xvdc"))

# NVMe.
mp = by_vbd["xvdd"]
s.check(C.NVME_BLKBACK_ADVERTISED_DIX, offered("xvdd") and connected.get(DEVID["xvdd"], {}).get("opted_in") == 1,
        connected=connected.get(DEVID["xvdd"]))
multipage_checks("nvme", mp)
s.check(C.NVME_REFUSED_THE_BAD_PAGE,
        nvme_pi == 1 and back.get("xvdd", {}).get("dix_err") == 1,
        nvme_pi_rejections=nvme_pi, blkback=back.get("xvdd"))
nv_read = mp.get("read_ok", {})
s.check(C.NVME_READ_PAIR_AFTERWARDS,
        ints(nv_read.get("status")) == [OKAY, OKAY], case=nv_read)

# Persistent grants and persistent PI grants (0014): what blkback does is
# in xen_blkbk_dix_map() and xen_blkbk_map(), which it shares with the data
# grants.  The checks that need dom0's log after the detach come below.
persistent = by_vbd["xvde"]
p_connected = connected.get(DEVID["xvde"], {})
p_connect_lines = [line for line in lab.sh("dmesg", timeout=20).stdout.splitlines()
                   if re.search(rf"backend/vbd/{domid}/{DEVID['xvde']}: using \d+ queues, .*"
                                r"persistent grants", line)]
s.check(C.PERSISTENT_NEGOTIATED,
        offered("xvde") and p_connected.get("opted_in") == 1
        and p_connected.get("persistent") == 1 and p_connected.get("backend_persistent") == 1
        and xs_persistent == {"backend": "1", "frontend": "1", "frontend_integrity": "1"}
        and len(p_connect_lines) == 1,
        connected=p_connected, xenstore=xs_persistent, dom0_log=p_connect_lines)
r = persistent.get("persistent_write_ok", {})
s.check(C.PERSISTENT_WRITE_OK, pair_ok(r, OKAY, WRITE, P_ID["persistent_write_ok"]), case=r)
# The data grant is in blkback's persistent grants and in use by the pair
# when its PI is mapped: get_persistent_gnt() finds it active, so
# xen_blkbk_map() maps it once more, for the pair only.  The read's PI is
# copied into the granted page after the data (xen_blkbk_dix_complete()).
r = persistent.get("persistent_pi_is_data", {})
s.check(C.PERSISTENT_PI_IS_DATA,
        pair_ok(r, OKAY, READ, P_ID["persistent_pi_is_data"]) and data_and_pi_match(r), case=r)
# The same for two pairs in flight: whichever completes first, each gets
# its own answer (two responses pushed together) and the same PI.
r = persistent.get("persistent_pi_shared", {})
got = answered(r)
want = [((OKAY, FLAG | READ, i), (OKAY, INTEGRITY, i))
        for i in (P_ID["persistent_pi_shared"], P_ID["persistent_pi_shared"] + P_SECOND_ID)]
s.check(C.PERSISTENT_PI_SHARED_IN_FLIGHT,
        r.get("slots") == r.get("responses") == 4
        and sorted(zip(got[::2], got[1::2])) == sorted(want) and data_and_pi_match(r),
        case=r, want=want)
# With persistent PI grants xen_blkbk_map() maps them writable whatever the
# operation: a read-only grant does not map, "bad-grant".
r = persistent.get("persistent_pi_read_only", {})
s.check(C.PERSISTENT_PI_READ_ONLY,
        pair_ok(r, ERROR, WRITE, P_ID["persistent_pi_read_only"]) and r.get("leaked") == 0,
        case=r)
# Xen does not let a frontend end a grant that a backend maps
# (gnttab_try_end_foreign_access() fails), and blkback keeps a persistent
# grant until the LRU purge or the disconnect: the given-up page still
# serves the same write, whose PI it still holds.
r = persistent.get("persistent_pi_revoked", {})
s.check(C.PERSISTENT_PI_REVOKED,
        ints(r.get("first")) == [OKAY, OKAY] and r.get("revoked") == 0
        and pair_ok(r, OKAY, WRITE, P_ID["persistent_pi_revoked"]), case=r)
reuse = {}
for k in range(P_ROUNDS):
    for op, name in ((WRITE, f"persistent_reuse_write_{k}"), (READ, f"persistent_reuse_read_{k}")):
        r = persistent.get(name, {})
        reuse[name] = {"ok": pair_ok(r, OKAY, op, P_ID[name]) and (op == WRITE or data_and_pi_match(r)),
                       "case": r}
s.check(C.PERSISTENT_PI_REUSED,
        len(reuse) == 2 * P_ROUNDS and all(v["ok"] for v in reuse.values()), rounds=reuse)
kept = persistent.get("persistent_pi_kept", {})
s.check(C.PERSISTENT_PI_KEPT_MAPPED,
        isinstance(kept.get("pi_grants"), int) and kept["pi_grants"] >= 1
        and kept.get("pi_kept") == kept["pi_grants"]
        and isinstance(kept.get("data_grants"), int) and kept["data_grants"] >= 1
        and kept.get("data_kept") == kept["data_grants"], case=kept)
# Every pair but the read-only one reaches the disk: persistent_write_ok,
# persistent_pi_is_data, both of persistent_pi_shared, both writes of
# persistent_pi_revoked, and the rounds.
p_back = back.get("xvde", {})
p_submitted = 6 + 2 * P_ROUNDS
s.check(C.PERSISTENT_ONLY_READ_ONLY_REJECTED,
        p_back.get("dix_rejected") == 1 and p_back.get("dix_err") == 0
        and p_back.get("dix_req") == p_submitted,
        blkback=p_back, want_dix_req=p_submitted)

every = [r for found in by_vbd.values() for r in found.values()]
leaks = {f"{r.get('vbd')}:{r.get('case')}": r.get("leaked") for r in every
         if "leaked" in r and r.get("leaked") != 0}
s.check(C.NO_GRANT_LEAKED,
        len(cases) >= len(MALFORMED) + 11 and len(nodix) == len(NODIX) and len(mp) >= 6
        and set(persistent) == set(P_CASES)
        and not leaks and all("leaked" in r or r.get("skipped") == 1 for r in every),
        leaks=leaks, cases={d: len(c) for d, c in by_vbd.items()})

detached = (run.record("detached") or [{}])[0]
s.check(C.FUZZFRONT_CLOSED_ON_DETACH,
        detached.get("ok") is True and not vbds_after_detach
        and all(d.get("rc") == 0 for d in detach.values()),
        detached=detached, vbds=vbds_after_detach, detach=detach)
s.check(C.NO_OOPS_IN_THE_HOSTILE_DOMU, not run.kernel_problems(),
        lines=run.kernel_problems())
s.check(C.HOSTILE_DOMAIN_DIES, lab.only_dom0_left())
dmesg = lab.sh("dmesg", timeout=20).stdout.splitlines()
s.fact("dom0_blkback_messages", [line for line in dmesg
                                 if ("blkback" in line or "vbd" in line) and "| pg:" not in line][-20:])

# What blkback's log says about xvde's persistent grants, now that every
# ring has stopped: the count its thread logged last (at disconnect, before
# free_persistent_gnts() unmapped them), and its alerts.
param_errors += [e for e in [set_blkback_param(name, params_before.get(name, ""))
                             for name in ("log_stats", "persistent_grant_unused_seconds")
                             if params_before.get(name)] if e]
s.fact("blkback_param_errors", param_errors)
ring_stats = [line for line in dmesg
              if re.search(rf"\({domid}\.xvde-\d+\): .*\| pg:", line)]
s.fact("xvde_ring_stats", ring_stats[-5:])
pg = re.search(r"\| pg:\s*(\d+)/", ring_stats[-1]) if ring_stats else None
revoked = persistent.get("persistent_pi_revoked", {}).get("revoked")
# The pool's pages (data and PI) and the given-up PI page, if blkback kept
# it; neither the read-only page (it never mapped) nor the second mappings
# of a grant in use (unmapped with their pair) are persistent grants.
want_pg = ((kept.get("data_grants") or 0) + (kept.get("pi_grants") or 0)
           + (1 if revoked == 0 else 0))
s.check(C.PERSISTENT_GRANTS_COUNTED_AT_DISCONNECT,
        not param_errors and pg is not None and int(pg.group(1)) == want_pg,
        pg=int(pg.group(1)) if pg else None, want=want_pg, lines=ring_stats[-2:],
        param_errors=param_errors)
alerts = lab.sh("dmesg", "--level=emerg,alert,crit", check=False, timeout=20).stdout.splitlines()
blkback_alerts = [line for line in alerts if "blkback" in line]
in_use = sum(GRANT_IN_USE in line for line in blkback_alerts)
in_tree = sum(GRANT_IN_TREE in line for line in blkback_alerts)
# One pair of alerts for persistent_pi_is_data, one more for
# persistent_pi_shared if its second pair was dispatched before the disk
# answered the first (scsi_debug's one-jiffy delay: usually).
s.check(C.PERSISTENT_GRANT_IN_USE_ALERTS,
        in_use in (1, 2) and in_tree == in_use and len(blkback_alerts) == in_use + in_tree,
        in_use=in_use, in_tree=in_tree, alerts=blkback_alerts[-10:])
lab.check_dom0_clean(s)
s.save()
