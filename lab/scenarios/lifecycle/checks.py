"""The checks of the lifecycle scenario, named once: dom0.py records them
and tests/lab asks for them (through lab.host.job.checks("lifecycle")).
Standard library only: dom0 imports this module as ``checks``."""

# -- The connection: 2 queues, a 4-page ring ----------------------------------
DOMU_RAN_ITS_SCRIPT = "the lifecycle domU ran its script and powered off"
XVDB_HAS_THE_VOLUMES_PROFILE = "xvdb has the volume's profile (T10-DIF-TYPE1-CRC, 512) at connect"
TWO_QUEUES_AND_A_4_PAGE_RING = ("blkfront connected xvdb with 2 queues and a 4-page ring "
                                "(multi-queue-num-queues 2, ring-page-order 2)")
PAIRS_ON_EVERY_QUEUE = "both of xvdb's rings carried pairs, several in flight at once on each"
PAIRS_CROSSED_THE_WRAP = ("pairs crossed each ring's wrap index (flagged slot in the last "
                          "entry, integrity slot in entry 0)")
RING_IO_VERIFIED = "the I/O on both queues completed and every read verified"
RINGS_ONLY_PAIRS = "blkback served every read and write on both rings as a pair"


# -- Save and restore, live migration: I/O running throughout -------------------
def io_was_in_flight(step: str) -> str:
    return f"{step}: pairs were in flight in dom0 when it began"


def step_succeeded(step: str) -> str:
    return f"{step}: the toolstack's command succeeded"


def no_io_lost(step: str) -> str:
    return f"{step}: no I/O lost: every write completed and every chunk read back identical"


def profile_in_use(step: str) -> str:
    return (f"{step}: the guest keeps its profile with generate and verify on, and every "
            f"read and write reaches blkback as a pair but for at most a queue's depth re-sent "
            f"at resume, prepared while PI was off; blkfront sent nothing prepared with PI "
            f"without it")


SAVE_RESTORE_DIX = "save and restore onto DIX"
RESTORE_ONLY_PAIRS = ("save and restore onto DIX: blkback served every read and write of the "
                      "new connection as a pair")
SAVE_RESTORE_STOCK = "save and restore onto a stock blkback"
SAVE_RESTORE_BACK = "save and restore onto DIX again"
MIGRATE = "a live migration to this host"
MIGRATION_REFUSED_BEFORE_SUSPEND = (
    "Debian's Xen 4.17 refuses to live-migrate a PV guest (it cannot enable log-dirty mode: "
    "EOPNOTSUPP) before suspending it: the guest runs on, same domain")
STOCK_DROPS_THE_PROFILE_VISIBLY = (
    "onto a stock blkback: the guest logs 'protection information dropped', turns off "
    "read_verify and write_generate, and no pair reaches the backend")
BACK_RESTORES_THE_PROFILE = ("onto DIX again: the guest logs 'protection information restored' "
                             "and generates and verifies PI again")
STOCK_STATUS_IS_NOT_PROTECTED = "onto a stock blkback: xendix status does not say protected"

# -- Reconnects ---------------------------------------------------------------
DISABLE_NOW_DROPS_THE_PROFILE = ("xendix disable --now: xvdb comes back without a profile; "
                                 "the data reads back and I/O works without pairs")
ENABLE_NOW_GIVES_IT_BACK = ("xendix enable --now: xvdb comes back with the profile; data "
                            "written without PI reads back verified; I/O goes as pairs")
STATUS_FOLLOWS_THE_TOGGLE = "xendix status says off after disable --now and protected after enable --now"

# -- The backing device loses, then changes, its profile ----------------------
VOLUME_LOST_ITS_PROFILE = "dom0's volume lost its integrity profile (dm table moved to a plain disk)"
LOST_PAIRS_FAIL_WITH_EIO = ("a pair on the connected vbd fails with EIO (BLKIF_RSP_ERROR): "
                            "nothing is read or written without PI")
LOST_IS_COUNTED = "blkback counted the refused pairs in dix_rejected and logged the reason"
STATUS_SAYS_PROFILE_CHANGED = "xendix status says profile-changed while the vbd is connected"
REATTACH_WITHOUT_PROFILE = ("re-attached: blkback advertises no profile, the guest has none, "
                            "and I/O works as plain requests")
REATTACH_WITH_ANOTHER_PROFILE = ("the volume moved to a TYPE3-CRC/4096 disk and re-attached: the "
                                 "guest takes the new profile and 4096-byte blocks, I/O as pairs")

# -- The x86_32 ABI: blkback's translation of pairs, run in dom0 --------------
X86_32_EVERY_CASE_PASSES = ("blkif32_test: blkback's x86_32 translation of every pair, "
                            "indirect and plain request case is exact, field by field")
X86_32_HARNESS_FAILS_ON_A_WRONG_FIELD = ("blkif32_test with one expected value wrong on purpose "
                                         "fails to load and names the field")

# -- Mixed kernels: dom0 on this series, a domU on the other -------------------
MIXED_DOMU_RAN_ITS_SCRIPT = "mixed kernels: the other series' domU ran its script"
MIXED_PROFILE = "mixed kernels: the domU has the disk's profile, confirmed to blkback"
MIXED_ROUND_TRIP = "mixed kernels: writes of 4 KiB to 1 MiB complete and read back verified, as pairs"
MIXED_CORRUPTED_READS_FAIL = "mixed kernels: each corrupted read failed with EILSEQ"
MIXED_CORRUPTED_WRITES_REFUSED = "mixed kernels: the disk refused each corrupted write: EILSEQ"
MIXED_COUNTERS = "mixed kernels: blkback and blkfront both counted the 4 refused writes"

NO_OOPS_IN_THE_DOMUS = "no BUG, WARNING or Oops in either domU"
NO_DOMAIN_LEFT = "no domain is left, grants released"

# -- lab.check_dom0_clean(s) (lab/dom0/labguest/cleanup.py) records these;
# the unit test holds them to its text.
NO_VBD_LEFT_IN_DOM0 = "no vbd is left in dom0"
NO_OOPS_IN_DOM0 = "no BUG, WARNING or Oops in dom0's kernel log"
EMITTED_BY_LABGUEST = (NO_VBD_LEFT_IN_DOM0, NO_OOPS_IN_DOM0)

# Every name above is asked for by a test.
UNTESTED_BY_NAME: tuple[object, ...] = ()
