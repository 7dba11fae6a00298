"""The checks of the dix scenario, named once: dom0.py records them and
tests/lab asks for them (through lab.host.job.checks("dix")).
Standard library only: dom0 imports this module as ``checks``."""

# -- The pipeline: the checkout's series in both kernels, plain I/O ----------
DOM0_RUNS_OUR_BLKBACK = "dom0 runs our xen-blkback, not Debian's"
DOMU_RAN_ITS_SCRIPT = "the domU ran its script and powered off"
DOMU_RUNS_OUR_BLKFRONT = "the domU runs our xen-blkfront, not Debian's"
DOMU_SEES_XVDB = "the domU sees /dev/xvdb"
WROTE_1MIB_WITH_O_DIRECT = "1 MiB of random data written with O_DIRECT"
DATA_READS_BACK_IDENTICAL = "the data reads back identical"
NO_VBD_LEFT_AFTER_THE_DOMU = "after the domU is gone, no vbd is left in dom0"
NO_OOPS_IN_THE_DOMU = "no BUG, WARNING or Oops in the domU's kernel log"

# -- Run A: TYPE1-CRC, 512-byte interval: I/O matrix and corruption --------
DIX_DOMU_REACHED_CORRUPT_READS = "the domU reached the corrupt-read phase"
DIX_DOMU_RAN_ITS_SCRIPT = "the DIX domU ran its script and powered off"
XVDB_HAS_DOM0_FORMAT = "the domU's xvdb has its dom0 disk's integrity format"
XVDB_HAS_DOM0_INTERVAL_AND_TAG_SIZE = "and its protection interval and tag size"
BLKBACK_ADVERTISED_FRONTEND_OPTED_IN = "blkback advertised the profile and the frontend opted in"
FRONTEND_CONFIRMED_ITS_PROFILE = (
    "the frontend confirmed the profile it registered (its data-integrity-format)")
BLKBACK_LOGGED_THE_CONFIRMATION = "blkback logged that the frontend confirmed the profile"
EVERY_MATRIX_WRITE_COMPLETED = "every O_DIRECT write of 4 KiB to 1 MiB completed"
EVERY_MATRIX_READ_VERIFIED = "every read came back verified and identical"
EVERY_MATRIX_REQUEST_CARRIED_PI = (
    "every request of the matrix carried PI (frontend pairs >= I/Os)")
BLKBACK_GAVE_THE_DISK_PI = "blkback gave the disk a PI payload for every I/O of the matrix"
NO_DISK_PI_ERROR_IN_THE_MATRIX = "the disk found no PI error in the matrix"
CORRUPTED_READS_FAILED_WITH_EILSEQ = (
    "each corrupted read failed with EILSEQ, none returned data as good")
BLOCKS_INTACT_AFTER_CORRUPTION = "the same blocks read back intact once the corruption stopped"
DOMU_LOGGED_PROTECTION_ERRORS = "the domU's kernel logged the protection errors"
DISK_REFUSED_CORRUPTED_WRITES = "the disk refused each corrupted write: EILSEQ in the domU"
DISK_REPORTED_THE_INJECTED_ERRORS = (
    "the disk reported exactly the injected PI errors (guard check failed)")
BOTH_DRIVERS_COUNTED_THE_ERRORS = "blkback and blkfront both counted the protection errors"
NEXT_WRITE_SUCCEEDED = "the next write, uncorrupted, succeeded"
NO_REQUEST_WENT_WITHOUT_PI = (
    "no request with PI went without it or was refused (dix_unprotected, dix_refused = 0)")
NO_OOPS_IN_THE_DIX_DOMU = "no BUG, WARNING or Oops in the DIX domU"
NO_DYING_DOMAIN_AFTER_THE_DIX_DOMU = (
    "after the DIX domU, no domain is left dying (all grants released)")


def reads_corrupted(n: int) -> str:
    """Blkback corrupted the PI of ``n`` reads."""
    return f"{n} reads whose PI was corrupted were injected"


def writes_corrupted(n: int) -> str:
    """Blkback corrupted the PI of ``n`` writes."""
    return f"{n} writes whose PI was corrupted were injected"


# -- Runs B and C (type3ip, pi4k): other profiles, persistent grants ---------
def run_profile_is(run: str, integrity_format: str, interval: str) -> str:
    """The domU of ``run`` got this profile."""
    return f"{run}: the domU's profile is {integrity_format} with a {interval}-byte interval"


def run_io_with_pi_works(run: str) -> str:
    return f"{run}: O_DIRECT I/O with PI works"


def run_persistent_grants_were(run: str, state: str) -> str:
    """``state``: "on" or "off"."""
    return f"{run}: persistent grants were {state}"


def no_oops_in_the_domu_of(run: str) -> str:
    """A run's or a compatibility case's domU logged no BUG, WARNING or Oops."""
    return f"{run}: no BUG, WARNING or Oops in the domU"


# -- Compatibility: every mix of old and new ends, and the admin toggle -------
def case_has_no_profile(case: str) -> str:
    return f"{case}: the domU has no integrity profile"


def case_plain_io_works(case: str) -> str:
    return f"{case}: 1 MiB of O_DIRECT I/O works"


def case_domain_is_gone(case: str) -> str:
    return f"{case}: the domain is gone, grants released"


STOCK_BACKEND_NEVER_ADVERTISES = (
    "new-front-old-back: the stock backend never advertises the feature")
STOCK_FRONTEND_DOES_NOT_OPT_IN = (
    "old-front-new-back: blkback advertises, the stock frontend does not opt in")
ADMIN_TOGGLE_ADVERTISES_ZERO = "admin-disabled: blkback advertises feature-data-integrity = 0"

# -- lab.check_dom0_clean(s) (lab/dom0/labguest/cleanup.py) records these;
# the unit test holds them to its text.
NO_VBD_LEFT_IN_DOM0 = "no vbd is left in dom0"
NO_OOPS_IN_DOM0 = "no BUG, WARNING or Oops in dom0's kernel log"
EMITTED_BY_LABGUEST = (NO_VBD_LEFT_IN_DOM0, NO_OOPS_IN_DOM0)

# Recorded, but no test asks for them by name: a domU that did not run to
# its end fails the checks on what it should have done, which tests ask for.
UNTESTED_BY_NAME = (
    DOMU_RAN_ITS_SCRIPT,
    DIX_DOMU_REACHED_CORRUPT_READS,
    DIX_DOMU_RAN_ITS_SCRIPT,
)
