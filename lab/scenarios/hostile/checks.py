"""The checks of the hostile scenario, named once: dom0.py records them
and tests/lab asks for them (through lab.host.job.checks("hostile")).
Standard library only: dom0 imports this module as ``checks``."""

NVME_NAMESPACE_WITH_PI = (
    "nvme: dom0 sees the NVMe namespace with PI (TYPE1-CRC, 512-byte interval, "
    "one integrity segment per command)")
FUZZFRONT_RAN_EVERY_CASE = "fuzzfront ran every case and the domU powered off"
BLKBACK_ADVERTISED_DIX = (
    "blkback advertised DIX to fuzzfront (TYPE1, 512-byte interval, 8-byte tuples)")

# -- Malformed pairs on xvdb (dom0.py's MALFORMED, one check each) -----------
FLAGGED_READ_AS_LAST_SLOT = (
    "a flagged READ that is the last slot produced gets one BLKIF_RSP_ERROR")
FLAGGED_READ_THEN_PLAIN_READ = (
    "a flagged READ followed by a plain READ slot: BLKIF_RSP_ERROR on both")
FLAGGED_READ_THEN_FLAGGED_READ = (
    "a flagged READ followed by another flagged READ: BLKIF_RSP_ERROR on both")
INTEGRITY_SLOT_WITH_ANOTHER_ID = (
    "an integrity slot with another id: BLKIF_RSP_ERROR on both, each with its own id")
INTEGRITY_SLOT_WITH_0_SEGMENTS = "an integrity slot with nr_segments 0: BLKIF_RSP_ERROR on both"
INTEGRITY_SLOT_WITH_17_SEGMENTS = "an integrity slot with nr_segments 17: BLKIF_RSP_ERROR on both"
PI_BYTES_ONE_TUPLE_SHORT = (
    "pi_bytes one tuple short of the data length: BLKIF_RSP_ERROR on both")
PI_BYTES_HUGE = "pi_bytes 0xffffffff with 16 pages: BLKIF_RSP_ERROR on both"
TWO_SEGMENTS_FOR_ONE_PAGE_OF_PI = (
    "nr_segments 2 for PI that fits one page: BLKIF_RSP_ERROR on both")
PI_GRANT_BEYOND_THE_TABLE = (
    "a PI grant reference beyond the grant table: BLKIF_RSP_ERROR on both")
PI_GRANT_NEVER_LEFT_GRANTED = (
    "a PI grant reference that was never left granted: BLKIF_RSP_ERROR on both")
PI_PAGE_READ_ONLY_FOR_A_READ = (
    "a READ whose PI page is granted read-only: BLKIF_RSP_ERROR on both")
DATA_GRANT_DOES_NOT_MAP = "a pair whose data grant does not map: BLKIF_RSP_ERROR on both"
SECOND_PI_PAGE_DOES_NOT_MAP = (
    "an indirect READ whose first PI page maps and second does not: BLKIF_RSP_ERROR on both")
FLAGGED_READ_WITHOUT_DATA = "a flagged READ with no data segment: BLKIF_RSP_ERROR on both"
FLAGGED_FLUSH = "a flagged FLUSH: BLKIF_RSP_ERROR on both"
FLAGGED_DISCARD = "a flagged DISCARD: BLKIF_RSP_ERROR on both"
FLAGGED_INTEGRITY_SLOT = "a flagged INTEGRITY slot: BLKIF_RSP_ERROR on both"
LONE_INTEGRITY_SLOT = "a lone BLKIF_OP_INTEGRITY slot gets one BLKIF_RSP_ERROR"
RESERVED_PAD1_NOT_ZERO = "reserved: an integrity slot with _pad1 != 0: BLKIF_RSP_ERROR on both"
RESERVED_GREF1_GRANTED = (
    "reserved: a granted page in gref[1] of a 1-page integrity slot: BLKIF_RSP_ERROR on both")
RESERVED_GREF15_GRANTED = (
    "reserved: a granted page in gref[15] of a 1-page integrity slot: BLKIF_RSP_ERROR on both")

EACH_ERROR_NAMES_ITS_SLOT = (
    "each BLKIF_RSP_ERROR names the slot it answers (its operation and id)")
UNALIGNED_READ_REFUSED = (
    "a flagged READ off a protection interval boundary gets BLKIF_RSP_ERROR "
    "(skipped on a 512-byte interval)")


# -- The flood ----------------------------------------------------------------
def flood_every_slot_answered(pairs: int) -> str:
    """``pairs`` malformed pairs back to back, each slot answered once."""
    return (f"flood: {pairs} malformed pairs back to back: every slot gets exactly one "
            "BLKIF_RSP_ERROR, in order, naming its slot")


FLOOD_FILLED_THE_RING = "flood: the ring was full again and again (at least 10 times)"
FLOOD_LEFT_NO_GRANT_MAPPED = "flood: no grant of the flood stays mapped (leaked=0)"

# -- Well-formed pairs afterwards ---------------------------------------------
GOOD_READ_PAIR_AFTERWARDS = (
    "a well-formed 4 KiB READ pair after all the bad ones gets BLKIF_RSP_OKAY on both slots")
GOOD_WRITE_PAIR = (
    "a well-formed WRITE pair with correct T10 PI gets BLKIF_RSP_OKAY on both slots")
WRONG_GUARD_GETS_EINTEGRITY = (
    "the same WRITE with a wrong guard tag gets BLKIF_RSP_EINTEGRITY on both slots")
GOOD_WRITE_READS_BACK = "reading the good write back returns its data and its PI"


# -- Pairs with 4 pages of PI, per disk ("scsi_debug", "nvme") ----------------
def multipage_write_ok(disk: str) -> str:
    return (f"{disk}: a 1 MiB WRITE pair (256 indirect segments, 4 pages of PI) gets "
            "BLKIF_RSP_OKAY on both slots")


def multipage_read_back(disk: str) -> str:
    return f"{disk}: reading the 1 MiB back returns its data and its 4 pages of PI"


def multipage_offset_data_intact(disk: str) -> str:
    return (f"{disk}: the same with the data 3 sectors into its first page (each PI page "
            "boundary inside a data page) is written and read back intact")


def multipage_bad_guard_in_third_page(disk: str) -> str:
    return (f"{disk}: a 1 MiB WRITE whose PI is good but for a wrong guard in its third "
            "page gets BLKIF_RSP_EINTEGRITY on both slots")


BLKBACK_COUNTED_TWO_INTEGRITY_ERRORS = (
    "blkback counted exactly two integrity errors (dix_err == 2)")

# -- xvdc: fuzzfront did not opt in (dom0.py's NODIX, one check each) ---------
NO_DIX_OFFERED_BUT_NOT_OPTED_IN = (
    "no DIX: blkback offered DIX on xvdc but fuzzfront did not opt in")
NO_DIX_FLAGGED_READ = (
    "no DIX: a flagged READ gets BLKIF_RSP_EOPNOTSUPP on its one slot "
    "and the plain READ after it its own BLKIF_RSP_OKAY")
NO_DIX_FLAGGED_WRITE = (
    "no DIX: a flagged WRITE gets BLKIF_RSP_EOPNOTSUPP on its one slot "
    "and the plain WRITE after it its own BLKIF_RSP_OKAY")
NO_DIX_FLAGGED_INDIRECT_READ = (
    "no DIX: a flagged INDIRECT READ gets BLKIF_RSP_EOPNOTSUPP on its "
    "one slot and the plain READ after it its own BLKIF_RSP_OKAY")
NO_DIX_WHOLE_PAIR = (
    "no DIX: a whole pair is two requests: BLKIF_RSP_EOPNOTSUPP on the flagged "
    "READ, BLKIF_RSP_ERROR on the integrity slot alone")
NO_DIX_PLAIN_READ_OKAY = "no DIX: a plain READ gets BLKIF_RSP_OKAY"
NO_DIX_NO_PAIR_TAKEN = "no DIX: blkback took no pair on xvdc (dix_req == 0)"

# -- xvdd: NVMe --------------------------------------------------------------
NVME_BLKBACK_ADVERTISED_DIX = (
    "nvme: blkback advertised DIX to fuzzfront on the NVMe vbd (TYPE1, 512-byte interval, "
    "8-byte tuples)")
NVME_REFUSED_THE_BAD_PAGE = (
    "nvme: the namespace refused the bad third PI page itself (one PI error), "
    "and blkback counted it (dix_err == 1)")
NVME_READ_PAIR_AFTERWARDS = "nvme: a 4 KiB READ pair afterwards gets BLKIF_RSP_OKAY on both slots"

# -- xvde: persistent grants and persistent PI grants (dom0.py's PERSISTENT) --
PERSISTENT_NEGOTIATED = (
    "persistent: on xvde fuzzfront wrote feature-persistent = 1 and "
    "feature-persistent-integrity = 1, and blkback connected it with persistent grants and DIX")
PERSISTENT_WRITE_OK = (
    "persistent: a well-formed WRITE pair from the connection's pages gets BLKIF_RSP_OKAY "
    "on both slots")
PERSISTENT_PI_IS_DATA = (
    "persistent: a READ pair whose PI grant is its own data grant gets BLKIF_RSP_OKAY on "
    "both slots (mapped once more, not refused), the PI written over the start of the data")
PERSISTENT_PI_SHARED_IN_FLIGHT = (
    "persistent: two READ pairs pushed together with the same PI grant each get "
    "BLKIF_RSP_OKAY on both slots, with their data and the PI")
PERSISTENT_PI_READ_ONLY = (
    "persistent: a WRITE pair whose PI page is granted read-only gets BLKIF_RSP_ERROR on "
    "both slots (persistent PI grants are mapped writable) and leaves it unmapped")
PERSISTENT_PI_REVOKED = (
    "persistent: the frontend cannot end a PI grant that blkback keeps, and a WRITE pair "
    "naming it after the frontend gave it up still gets BLKIF_RSP_OKAY on both slots")
PERSISTENT_PI_REUSED = (
    "persistent: WRITE pairs and their read-backs naming the same PI grants round after "
    "round get BLKIF_RSP_OKAY on both slots and return their data and PI")
PERSISTENT_PI_KEPT_MAPPED = (
    "persistent: once its pairs were answered, blkback still maps every PI grant and every "
    "data grant of the connection (the frontend can end none)")
PERSISTENT_GRANTS_COUNTED_AT_DISCONNECT = (
    "persistent: at disconnect blkback's log_stats counts exactly the connection's data "
    "and PI pages and the given-up PI page as persistent grants")
PERSISTENT_ONLY_READ_ONLY_REJECTED = (
    "persistent: blkback refused only the pair with the read-only PI grant and took every "
    "other pair to the disk (dix_rejected == 1, dix_err == 0, dix_req counts the others)")
PERSISTENT_GRANT_IN_USE_ALERTS = (
    "persistent: a grant named while it is in use shows in dom0's log only as blkback's "
    "rate-limited alerts, one pair of them for each pair mapped twice")

# -- Nothing leaks ------------------------------------------------------------
NO_GRANT_LEAKED = (
    "every grant of every case could be ended once its responses were in (leaked=0)")
FUZZFRONT_CLOSED_ON_DETACH = (
    "fuzzfront closed when dom0 detached the disk and blkback removed the vbd")
NO_OOPS_IN_THE_HOSTILE_DOMU = "no BUG, WARNING or Oops in the hostile domU"
HOSTILE_DOMAIN_DIES = "the hostile domain dies (no grant left mapped in dom0)"

# -- lab.check_dom0_clean(s) (lab/dom0/labguest/cleanup.py) records these;
# the unit test holds them to its text.
NO_VBD_LEFT_IN_DOM0 = "no vbd is left in dom0"
NO_OOPS_IN_DOM0 = "no BUG, WARNING or Oops in dom0's kernel log"
EMITTED_BY_LABGUEST = (NO_VBD_LEFT_IN_DOM0, NO_OOPS_IN_DOM0)

# Every name above is asked for by a test.
UNTESTED_BY_NAME: tuple[object, ...] = ()
