"""The checks of the demo scenario (``./run``), named once: dom0.py records
them and tests/lab asks for them (through lab.host.job.checks("demo")).
Standard library only: dom0 imports this module as ``checks``."""

DOM0_HAS_A_DIX_AND_A_PLAIN_DISK = (
    "dom0 has a DIX disk (scsi_debug dif=1 dix=1) and a plain disk without PI (a RAM disk)")
DOMU_IS_UP = "the domU is up with xvdb on the DIX disk and xvdc on the plain disk"
STATUS_SHOWS_THE_VERDICTS = "xendix status: xvdb is protected, xvdc is unsupported-disk"
DOM0_ROTTED_A_BLOCK_OF_EACH_DISK = (
    "dom0 rotted one 4 KiB block of each disk behind the guest's back (no PI computed)")
DOMU_RAN_ITS_SCRIPT = "the domU ran its script and powered off"
XVDB_HAS_THE_DIX_PROFILE = (
    "the guest's xvdb has exactly the DIX disk's integrity profile (format, interval)")
XVDC_HAS_NO_PROFILE = "the guest's xvdc has no integrity profile"


def data_round_trips(disk: str, kind: str) -> str:
    """The guest's data read back intact on ``disk`` ("xvdb", "xvdc"),
    ``kind`` "DIX" or "plain"."""
    return f"data written by the guest reads back intact on {disk} ({kind})"


ROT_UNDER_DIX_IS_CAUGHT = (
    "rot under DIX is caught: the guest's read of the rotted block on xvdb fails with EILSEQ")
ROT_WITHOUT_DIX_GOES_UNNOTICED = (
    "rot without DIX goes unnoticed: the guest's read on xvdc succeeds, with different data")
CORRUPTION_IN_FLIGHT_IS_CAUGHT = (
    "corruption in flight is caught: a read of xvdb whose PI blkback corrupted fails with EILSEQ")
DATA_ON_DISK_WAS_FINE = "the data on disk was fine: the same block reads back intact"
SNOOP_SHOWS_THE_ROT_READ = (
    "xendix snoop in dom0 shows the read the disk failed: one line, domain, xvdb, its disk, "
    "R, unknown, EINTEGRITY")
NO_OOPS_IN_THE_DOMU = "no BUG, WARNING or Oops in the domU"
NO_DYING_DOMAIN_AFTER_THE_DOMU = "after the domU, no domain is left dying (all grants released)"

# -- lab.check_dom0_clean(s) (lab/dom0/labguest/cleanup.py) records these;
# the unit test holds them to its text.
NO_VBD_LEFT_IN_DOM0 = "no vbd is left in dom0"
NO_OOPS_IN_DOM0 = "no BUG, WARNING or Oops in dom0's kernel log"
EMITTED_BY_LABGUEST = (NO_VBD_LEFT_IN_DOM0, NO_OOPS_IN_DOM0)

# Every name above is asked for by a test.
UNTESTED_BY_NAME: tuple[object, ...] = ()
