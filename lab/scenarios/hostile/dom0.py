"""A hostile frontend: malformed DIX request pairs must each be refused
cleanly, and well-formed pairs must still work afterwards.

One domU, fuzzfront in place of xen-blkfront, three vbds, whose cases dom0
names in each backend directory ("fuzzfront-cases") before the domU runs:

- xvdb, a scsi_debug DIX disk: every case (malformed pairs, reserved
  fields, the flood, good pairs, pairs with 4 pages of PI);
- xvdc, the same disk, where fuzzfront does not opt in to DIX: flagged
  operations on a connection without DIX;
- xvdd, an NVMe namespace with PI (type 1, 512-byte blocks, separate
  metadata; the nvme driver takes one integrity segment per command): the
  pairs with 4 pages of PI.
"""

import subprocess
from pathlib import Path

import labguest as lab

OKAY, ERROR, EOPNOTSUPP, EINTEGRITY = 0, -1, -2, -3
READ, WRITE, FLUSH, DISCARD, INDIRECT, INTEGRITY, FLAG = 0, 1, 3, 5, 6, 7, 0x80
DEVID = {v: lab.devid(v) for v in ("xvdb", "xvdc", "xvdd")}
MODE = {"xvdb": "all", "xvdc": "nodix", "xvdd": "multipage"}
FLOOD_PAIRS = 320
NODIX_ID = 100

# fuzzfront's malformed cases (lab/domu/fuzzfront/fuzzfront.c), each
# with the statement a reviewer reads and the responses the protocol
# (docs/protocol.md, "Backend validation") prescribes: (status, operation,
# id) of each slot consumed.  Case n uses id n.
MALFORMED = [
    ("flag_last", "a flagged READ that is the last slot produced gets one BLKIF_RSP_ERROR",
     [(FLAG | READ, 1)]),
    ("second_wrong_op", "a flagged READ followed by a plain READ slot: BLKIF_RSP_ERROR on both",
     [(FLAG | READ, 2), (READ, 2)]),
    ("second_flagged", "a flagged READ followed by another flagged READ: BLKIF_RSP_ERROR on both",
     [(FLAG | READ, 3), (FLAG | READ, 3)]),
    ("wrong_id", "an integrity slot with another id: BLKIF_RSP_ERROR on both, each with its own id",
     [(FLAG | READ, 4), (INTEGRITY, 104)]),
    ("nr_segments_0", "an integrity slot with nr_segments 0: BLKIF_RSP_ERROR on both",
     [(FLAG | READ, 5), (INTEGRITY, 5)]),
    ("nr_segments_17", "an integrity slot with nr_segments 17: BLKIF_RSP_ERROR on both",
     [(FLAG | READ, 6), (INTEGRITY, 6)]),
    ("pi_bytes_short", "pi_bytes one tuple short of the data length: BLKIF_RSP_ERROR on both",
     [(FLAG | READ, 7), (INTEGRITY, 7)]),
    ("pi_bytes_huge", "pi_bytes 0xffffffff with 16 pages: BLKIF_RSP_ERROR on both",
     [(FLAG | READ, 8), (INTEGRITY, 8)]),
    ("nr_segments_mismatch", "nr_segments 2 for PI that fits one page: BLKIF_RSP_ERROR on both",
     [(FLAG | READ, 9), (INTEGRITY, 9)]),
    ("gref_out_of_range", "a PI grant reference beyond the grant table: BLKIF_RSP_ERROR on both",
     [(FLAG | READ, 10), (INTEGRITY, 10)]),
    ("gref_revoked", "a PI grant reference that was never left granted: BLKIF_RSP_ERROR on both",
     [(FLAG | READ, 11), (INTEGRITY, 11)]),
    ("pi_read_only_on_read", "a READ whose PI page is granted read-only: BLKIF_RSP_ERROR on both",
     [(FLAG | READ, 12), (INTEGRITY, 12)]),
    ("data_gref_revoked", "a pair whose data grant does not map: BLKIF_RSP_ERROR on both",
     [(FLAG | READ, 13), (INTEGRITY, 13)]),
    ("second_pi_page_bad", "an indirect READ whose first PI page maps and second does not: "
     "BLKIF_RSP_ERROR on both", [(FLAG | READ, 14), (INTEGRITY, 14)]),
    ("data_nr_segments_0", "a flagged READ with no data segment: BLKIF_RSP_ERROR on both",
     [(FLAG | READ, 15), (INTEGRITY, 15)]),
    ("flagged_flush", "a flagged FLUSH: BLKIF_RSP_ERROR on both",
     [(FLAG | FLUSH, 16), (INTEGRITY, 16)]),
    ("flagged_discard", "a flagged DISCARD: BLKIF_RSP_ERROR on both",
     [(FLAG | DISCARD, 17), (INTEGRITY, 17)]),
    ("flagged_integrity", "a flagged INTEGRITY slot: BLKIF_RSP_ERROR on both",
     [(FLAG | INTEGRITY, 18), (INTEGRITY, 18)]),
    ("lone_integrity", "a lone BLKIF_OP_INTEGRITY slot gets one BLKIF_RSP_ERROR",
     [(INTEGRITY, 19)]),
    # Reserved fields: a pair that would work but for one of them.
    ("pad1_nonzero", "reserved: an integrity slot with _pad1 != 0: BLKIF_RSP_ERROR on both",
     [(FLAG | READ, 21), (INTEGRITY, 21)]),
    ("gref_past_nr_segments", "reserved: a granted page in gref[1] of a 1-page integrity slot: "
     "BLKIF_RSP_ERROR on both", [(FLAG | READ, 22), (INTEGRITY, 22)]),
    ("gref_last_nonzero", "reserved: a granted page in gref[15] of a 1-page integrity slot: "
     "BLKIF_RSP_ERROR on both", [(FLAG | READ, 23), (INTEGRITY, 23)]),
]

# On the vbd where fuzzfront did not opt in (case n uses id n, its plain
# request id n + 100): (case, statement, [(status, operation, id)...]).
NODIX = [
    ("nodix_flagged_read", "no DIX: a flagged READ gets BLKIF_RSP_EOPNOTSUPP on its one slot "
     "and the plain READ after it its own BLKIF_RSP_OKAY",
     [(EOPNOTSUPP, FLAG | READ, 1), (OKAY, READ, 1 + NODIX_ID)]),
    ("nodix_flagged_write", "no DIX: a flagged WRITE gets BLKIF_RSP_EOPNOTSUPP on its one slot "
     "and the plain WRITE after it its own BLKIF_RSP_OKAY",
     [(EOPNOTSUPP, FLAG | WRITE, 2), (OKAY, WRITE, 2 + NODIX_ID)]),
    ("nodix_flagged_indirect", "no DIX: a flagged INDIRECT READ gets BLKIF_RSP_EOPNOTSUPP on its "
     "one slot and the plain READ after it its own BLKIF_RSP_OKAY",
     [(EOPNOTSUPP, FLAG | INDIRECT, 3), (OKAY, READ, 3 + NODIX_ID)]),
    ("nodix_pair", "no DIX: a whole pair is two requests: BLKIF_RSP_EOPNOTSUPP on the flagged "
     "READ, BLKIF_RSP_ERROR on the integrity slot alone",
     [(EOPNOTSUPP, FLAG | READ, 4), (ERROR, INTEGRITY, 4)]),
    ("nodix_read_ok", "no DIX: a plain READ gets BLKIF_RSP_OKAY", [(OKAY, READ, 5)]),
]


def ints(value) -> list[int]:
    """fuzzfront's "a,b" lists (a lone number comes as an int)."""
    if value is None or value == "none":
        return []
    return [int(v) for v in str(value).split(",")]


def answered(r: dict) -> list:
    """(status, operation, id) of each response of a case."""
    return list(zip(ints(r.get("status")), ints(r.get("ops")), ints(r.get("ids"))))


s = lab.Scenario()
disk = lab.scsi_debug(dev_size_mb=64, dif=1, dix=1)
s.fact("dom0_profile", lab.integrity(disk))
nvme = lab.nvme("dix0")
nvme_profile = s.fact("nvme_dom0_profile", lab.integrity(nvme))
nvme_limits = s.fact("nvme_dom0_queue_limits", lab.queue_limits(nvme))
s.check("nvme: dom0 sees the NVMe namespace with PI (TYPE1-CRC, 512-byte interval, "
        "one integrity segment per command)",
        nvme_profile["format"] == "T10-DIF-TYPE1-CRC"
        and nvme_profile["protection_interval_bytes"] == "512"
        and nvme_limits["max_integrity_segments"] == 1,
        disk=nvme, profile=nvme_profile, limits=nvme_limits)
nvme_pi_before = lab.nvme_pi_rejections()

domu = lab.Domu("hostile", [lab.lean_disk(disk, "xvdb"), lab.lean_disk(disk, "xvdc"), lab.lean_disk(nvme, "xvdd")],
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
try:
    domid = domu.domid
    back = {dev: lab.blkback_stats(domid, devid) for dev, devid in DEVID.items()}
    xs = {dev: {"backend": lab.xs_read(f"{domu.backend(devid)}/feature-data-integrity"),
                "frontend": lab.xs_read(f"{domu.frontend(devid)}/feature-data-integrity")}
          for dev, devid in DEVID.items()}
except RuntimeError:
    pass
s.fact("blkback_stats", back)
s.fact("feature_data_integrity", xs)
nvme_pi = s.fact("nvme_pi_rejections", lab.nvme_pi_rejections() - nvme_pi_before)
# Closing each vbd under fuzzfront: it must let go of the ring and blkback
# of every grant.
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
s.check("fuzzfront ran every case and the domU powered off",
        done is not None and run.finished and done_vbds == set(DEVID.values())
        and all(r.get("leaked") is not None for r in run.record("fuzz_done")),
        done=run.record("fuzz_done"), exit_status=run.exit_status, timed_out=run.timed_out,
        create_error=run.create_error, log=run.script_log[-10:])
connected = {r.get("vbd"): r for r in run.record("fuzz_connected")}
s.fact("fuzz_connected", connected)


def offered(dev: str) -> bool:
    c = connected.get(DEVID[dev], {})
    return c.get("feature") == 1 and c.get("interval") == 512 and c.get("tuple_size") == 8


s.check("blkback advertised DIX to fuzzfront (TYPE1, 512-byte interval, 8-byte tuples)",
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
s.check("each BLKIF_RSP_ERROR names the slot it answers (its operation and id)", not named,
        mismatches=named)

unaligned = cases.get("unaligned", {})
s.check("a flagged READ off a protection interval boundary gets BLKIF_RSP_ERROR "
        "(skipped on a 512-byte interval)",
        unaligned.get("skipped") == 1 and connected.get(DEVID["xvdb"], {}).get("interval") == 512
        or ints(unaligned.get("status")) == [ERROR, ERROR], case=unaligned)

# The flood.
flood = cases.get("flood", {})
s.check(f"flood: {FLOOD_PAIRS} malformed pairs back to back: every slot gets exactly one "
        "BLKIF_RSP_ERROR, in order, naming its slot",
        flood.get("pairs") == FLOOD_PAIRS and flood.get("slots") == 2 * FLOOD_PAIRS
        and flood.get("responses") == 2 * FLOOD_PAIRS and flood.get("errors") == 2 * FLOOD_PAIRS
        and flood.get("wrong") == 0, case=flood)
s.check("flood: the ring was full again and again (at least 10 times)",
        isinstance(flood.get("full"), int) and flood["full"] >= 10, case=flood)
s.check("flood: no grant of the flood stays mapped (leaked=0)",
        flood.get("leaked") == 0, case=flood)

read_ok = cases.get("read_ok", {})
s.check("a well-formed 4 KiB READ pair after all the bad ones gets BLKIF_RSP_OKAY on both slots",
        read_ok.get("responses") == 2 and ints(read_ok.get("status")) == [OKAY, OKAY]
        and ints(read_ok.get("ops")) == [FLAG | READ, INTEGRITY], case=read_ok)
write_ok = cases.get("write_ok", {})
s.check("a well-formed WRITE pair with correct T10 PI gets BLKIF_RSP_OKAY on both slots",
        write_ok.get("responses") == 2 and ints(write_ok.get("status")) == [OKAY, OKAY]
        and ints(write_ok.get("ops")) == [FLAG | WRITE, INTEGRITY], case=write_ok)
bad_guard = cases.get("write_bad_guard", {})
s.check("the same WRITE with a wrong guard tag gets BLKIF_RSP_EINTEGRITY on both slots",
        bad_guard.get("responses") == 2
        and ints(bad_guard.get("status")) == [EINTEGRITY, EINTEGRITY], case=bad_guard)
read_back = cases.get("read_back", {})
s.check("reading the good write back returns its data and its PI",
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
    s.check(f"{disk_name}: a 1 MiB WRITE pair (256 indirect segments, 4 pages of PI) gets "
            "BLKIF_RSP_OKAY on both slots", ok, case=r)
    ok, r = read_back_ok("multipage_read_back")
    s.check(f"{disk_name}: reading the 1 MiB back returns its data and its 4 pages of PI", ok, case=r)
    ok_w, w = pair("multipage_skip_write_ok", OKAY, WRITE)
    ok_r, r = read_back_ok("multipage_skip_read_back")
    s.check(f"{disk_name}: the same with the data 3 sectors into its first page (each PI page "
            "boundary inside a data page) is written and read back intact", ok_w and ok_r,
            write=w, read=r)
    ok, r = pair("multipage_bad_guard_page3", EINTEGRITY, WRITE)
    s.check(f"{disk_name}: a 1 MiB WRITE whose PI is good but for a wrong guard in its third "
            "page gets BLKIF_RSP_EINTEGRITY on both slots", ok, case=r)


multipage_checks("scsi_debug", cases)
s.check("blkback counted exactly two integrity errors (dix_err == 2)",
        back.get("xvdb", {}).get("dix_err") == 2, blkback=back.get("xvdb"))

# The vbd where fuzzfront did not opt in.
nodix = by_vbd["xvdc"]
s.check("no DIX: blkback offered DIX on xvdc but fuzzfront did not opt in",
        offered("xvdc") and connected.get(DEVID["xvdc"], {}).get("opted_in") == 0
        and xs.get("xvdc", {}).get("backend") == "1" and xs.get("xvdc", {}).get("frontend") is None,
        connected=connected.get(DEVID["xvdc"]), xenstore=xs.get("xvdc"))
for name, statement, want in NODIX:
    r = nodix.get(name, {})
    s.check(statement, r.get("slots") == r.get("responses") == len(want)
            and answered(r) == want, case=r, want=want)
s.check("no DIX: blkback took no pair on xvdc (dix_req == 0)",
        back.get("xvdc", {}).get("dix_req") == 0 and back.get("xvdc", {}).get("rd_req", 0) >= 3,
        blkback=back.get("xvdc"))

# NVMe.
mp = by_vbd["xvdd"]
s.check("nvme: blkback advertised DIX to fuzzfront on the NVMe vbd (TYPE1, 512-byte interval, "
        "8-byte tuples)", offered("xvdd") and connected.get(DEVID["xvdd"], {}).get("opted_in") == 1,
        connected=connected.get(DEVID["xvdd"]))
multipage_checks("nvme", mp)
s.check("nvme: the namespace refused the bad third PI page itself (one PI error), "
        "and blkback counted it (dix_err == 1)",
        nvme_pi == 1 and back.get("xvdd", {}).get("dix_err") == 1,
        nvme_pi_rejections=nvme_pi, blkback=back.get("xvdd"))
nv_read = mp.get("read_ok", {})
s.check("nvme: a 4 KiB READ pair afterwards gets BLKIF_RSP_OKAY on both slots",
        ints(nv_read.get("status")) == [OKAY, OKAY], case=nv_read)

every = [r for found in by_vbd.values() for r in found.values()]
leaks = {f"{r.get('vbd')}:{r.get('case')}": r.get("leaked") for r in every
         if "leaked" in r and r.get("leaked") != 0}
s.check("every grant of every case could be ended once its responses were in (leaked=0)",
        len(cases) >= len(MALFORMED) + 11 and len(nodix) == len(NODIX) and len(mp) >= 6
        and not leaks and all("leaked" in r or r.get("skipped") == 1 for r in every),
        leaks=leaks, cases={d: len(c) for d, c in by_vbd.items()})

detached = (run.record("detached") or [{}])[0]
s.check("fuzzfront closed when dom0 detached the disk and blkback removed the vbd",
        detached.get("ok") is True and not vbds_after_detach
        and all(d.get("rc") == 0 for d in detach.values()),
        detached=detached, vbds=vbds_after_detach, detach=detach)
s.check("no BUG, WARNING or Oops in the hostile domU", not run.kernel_problems(),
        lines=run.kernel_problems())
s.check("the hostile domain dies (no grant left mapped in dom0)", lab.only_dom0_left())
s.fact("dom0_blkback_messages", [line for line in lab.sh("dmesg", timeout=20).stdout.splitlines()
                                 if "blkback" in line or "vbd" in line][-20:])
lab.check_dom0_clean(s)
s.save()
