"""A hostile frontend: malformed DIX request pairs must each be refused
cleanly, and well-formed pairs must still work afterwards."""

import subprocess

import labguest as lab

OKAY, ERROR, EINTEGRITY = 0, -1, -3
READ, WRITE, FLUSH, DISCARD, INTEGRITY, FLAG = 0, 1, 3, 5, 7, 0x80

# fuzzfront's malformed cases (tests/lab/guest/fuzzfront/fuzzfront.c), each
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
]


def ints(value) -> list[int]:
    """fuzzfront's "a,b" lists (a lone number comes as an int)."""
    if value is None or value == "none":
        return []
    return [int(v) for v in str(value).split(",")]


s = lab.Scenario()
disk = lab.scsi_debug(dev_size_mb=64, dif=1, dix=1)
s.fact("dom0_profile", lab.integrity(disk))

domu = lab.Domu("hostile", [f"phy:{disk},xvdb,w"], "domu-hostile.sh", frontend="fuzz")
domu.start()
done = domu.wait_record("fuzz_done", 200)
back: dict = {}
try:
    back = lab.blkback_stats(domu.domid)
except RuntimeError:
    pass
s.fact("blkback_stats", back)
# Closing the vbd under fuzzfront: it must let go of the ring and blkback
# of every grant.
try:
    detach = lab.sh(lab.XL, "block-detach", "hostile", "xvdb", check=False, timeout=60)
    s.fact("block_detach", {"rc": detach.returncode, "stderr": detach.stderr.strip()[-500:]})
except subprocess.TimeoutExpired:
    s.fact("block_detach", {"rc": None, "stderr": "timed out"})
vbds_after_detach = s.fact("vbds_after_detach", lab.backend_vbds())
run = domu.finish(120)

s.check("fuzzfront ran every case and the domU powered off", done is not None and run.finished,
        done=done, exit_status=run.exit_status, timed_out=run.timed_out,
        create_error=run.create_error, log=run.script_log[-10:])
connected = (run.record("fuzz_connected") or [{}])[0]
s.fact("fuzz_connected", connected)
s.check("blkback advertised DIX to fuzzfront (TYPE1, 512-byte interval, 8-byte tuples)",
        connected.get("feature") == 1 and connected.get("interval") == 512
        and connected.get("tuple_size") == 8, connected=connected)

cases = {r.get("case"): r for r in run.record("fuzz")}
s.fact("cases", cases)

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
        unaligned.get("skipped") == 1 and connected.get("interval") == 512
        or ints(unaligned.get("status")) == [ERROR, ERROR], case=unaligned)

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

leaks = {n: r.get("leaked") for n, r in cases.items() if "leaked" in r and r.get("leaked") != 0}
s.check("every grant of every case could be ended once its responses were in (leaked=0)",
        len(cases) >= len(MALFORMED) + 5 and not leaks
        and all("leaked" in r or r.get("skipped") == 1 for r in cases.values()),
        leaks=leaks, cases=len(cases))
s.check("blkback counted exactly one integrity error (dix_err == 1)",
        back.get("dix_err") == 1, blkback=back)

detached = (run.record("detached") or [{}])[0]
s.check("fuzzfront closed when dom0 detached the disk and blkback removed the vbd",
        detached.get("ok") is True and not vbds_after_detach,
        detached=detached, vbds=vbds_after_detach)
s.check("no BUG, WARNING or Oops in the hostile domU", not run.kernel_problems(),
        lines=run.kernel_problems())
s.check("the hostile domain dies (no grant left mapped in dom0)", lab.only_dom0_left())
lab.check_dom0_clean(s)
s.save()
