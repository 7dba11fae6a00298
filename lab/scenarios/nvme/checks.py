"""The checks of the nvme scenario, named once: dom0.py records them and
tests/lab asks for them (through lab.host.job.checks("nvme")).
Standard library only: dom0 imports this module as ``checks``.

Every check but dom0's own belongs to a run ("type1-512", "type3-4096")
and takes its name."""


def dom0_sees_the_namespace(run: str) -> str:
    return f"{run}: dom0 sees the NVMe namespace with PI"


def domu_ran_its_script(run: str) -> str:
    return f"{run}: the domU ran its script and powered off"


# -- Large requests and the profile -----------------------------------------
def blkfront_takes_1mib_requests(run: str) -> str:
    return f"{run}: blkfront takes 1 MiB requests (max_indirect_segments=256)"


def xvdb_has_the_disks_profile(run: str) -> str:
    return f"{run}: the domU's xvdb has the NVMe disk's integrity format and interval"


def partition_and_volume_keep_the_profile(run: str) -> str:
    return f"{run}: the partition and the dm-linear volume have the same profile in the domU"


# -- Round trip --------------------------------------------------------------
def writes_of_4k_1m_and_4m_completed(run: str) -> str:
    return f"{run}: O_DIRECT writes of 4 KiB, 1 MiB and 4 MiB completed"


def every_read_verified(run: str) -> str:
    return f"{run}: every read came back verified and identical"


def every_request_carried_pi(run: str) -> str:
    return f"{run}: every request carried PI (frontend pairs >= I/Os)"


def blkback_gave_the_disk_pi(run: str) -> str:
    return f"{run}: blkback gave the disk PI for every request (blkback dix_req >= frontend pairs)"


def no_disk_pi_error_in_the_round_trip(run: str) -> str:
    return f"{run}: the disk found no PI error in the round trip"


# -- Corruption in flight ------------------------------------------------------
def reads_corrupted(run: str) -> str:
    return f"{run}: 4 reads whose PI was corrupted were injected"


def corrupted_reads_failed_with_eilseq(run: str) -> str:
    return f"{run}: each corrupted read (4 KiB and 1 MiB) failed with EILSEQ"


def blocks_intact_after_corruption(run: str) -> str:
    return f"{run}: the same blocks read back intact once the corruption stopped"


def writes_corrupted(run: str) -> str:
    return f"{run}: 4 writes whose PI was corrupted were injected"


def disk_refused_corrupted_writes(run: str) -> str:
    return f"{run}: the disk refused each corrupted write: EILSEQ in the domU"


def disk_reported_the_injected_errors(run: str) -> str:
    return f"{run}: the NVMe disk reported exactly the injected PI errors"


def next_write_succeeded(run: str) -> str:
    return f"{run}: the next write, uncorrupted, succeeded and reads back"


def both_drivers_counted_the_refused_writes(run: str) -> str:
    return f"{run}: blkback and blkfront both counted the 4 refused writes"


def domu_caught_the_corrupted_reads(run: str) -> str:
    return f"{run}: the domU's kernel caught the corrupted reads (guard tag error)"


# -- Load ----------------------------------------------------------------------
def load_more_than_16_in_flight(run: str) -> str:
    return f"{run}: load: more than 16 requests were in flight at once"


def load_every_io_completed(run: str) -> str:
    return f"{run}: load: every write completed and every read verified"


def load_every_request_carried_pi(run: str) -> str:
    return f"{run}: load: every request carried PI and none failed"


# -- Other backings: a partition and a dm-linear volume of the NVMe disk ------
def partition_at(start_mib: int) -> str:
    """A backing for backing_round_trips."""
    return f"a partition at {start_mib} MiB"


def volume_at(start_mib: int) -> str:
    """A backing for backing_round_trips."""
    return f"a dm-linear volume at {start_mib} MiB"


def backing_round_trips(run: str, backing: str) -> str:
    """``backing``: partition_at(...) or volume_at(...)."""
    return f"{run}: {backing} as backing: I/O round-trips with PI, no PI error"


# -- The disk's own PI errors (a scsi_debug disk) -------------------------------
def disk_error_fails_the_read(run: str) -> str:
    return f"{run}: a PI error reported by the disk fails the read with EILSEQ"


def both_drivers_counted_the_disk_errors(run: str) -> str:
    return f"{run}: blkback and blkfront counted the disk's PI errors"


def disk_blocks_read_back_after_errors(run: str) -> str:
    return f"{run}: the disk's blocks read back once its errors stopped"


# -- The end of a run ------------------------------------------------------------
def blkback_served_every_io_as_a_pair(run: str) -> str:
    return f"{run}: blkback served every read and write as a PI pair (dix_req = rd_req + wr_req)"


def no_oops_in_the_domu(run: str) -> str:
    return f"{run}: no BUG, WARNING or Oops in the domU"


def domain_is_gone(run: str) -> str:
    return f"{run}: the domain is gone, grants released"


def run_completed(run: str) -> str:
    return f"{run}: the run completed"


# -- lab.check_dom0_clean(s) (lab/dom0/labguest/cleanup.py) records these;
# the unit test holds them to its text.
NO_VBD_LEFT_IN_DOM0 = "no vbd is left in dom0"
NO_OOPS_IN_DOM0 = "no BUG, WARNING or Oops in dom0's kernel log"
EMITTED_BY_LABGUEST = (NO_VBD_LEFT_IN_DOM0, NO_OOPS_IN_DOM0)

# Every name above is asked for by a test.
UNTESTED_BY_NAME: tuple[object, ...] = ()
