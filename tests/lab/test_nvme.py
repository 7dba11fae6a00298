"""NVMe disks with PI behind blkback, proven in the lab (scenario nvme,
one boot per series).

The lab machine has two NVMe namespaces with separate PI metadata: PI
type 1 with 512-byte blocks and PI type 3 with 4096-byte blocks.  The
NVMe driver takes a request's PI in one integrity segment
(max_integrity_segments = 1), and blkfront runs with
max_indirect_segments=256, so that a guest's 1 MiB request carries 4 pages
of PI at 512-byte intervals: the case that crashed a 6.1 dom0 and failed
with EIO on 6.12.
"""

from __future__ import annotations

import pytest

from lab.host import series as kseries

from .test_lab import passed

pytestmark = pytest.mark.lab

SERIES = tuple(kseries.names())  # every folder of patches/
RUNS = ("type1-512", "type3-4096")


@pytest.fixture(scope="module", params=SERIES)
def series(request):
    return request.param


@pytest.fixture(scope="module")
def nvme(lab_run, series):
    return lab_run("nvme", series)


@pytest.fixture(params=RUNS)
def run(request):
    return request.param


class TestTheDisk:
    def test_dom0_sees_an_nvme_namespace_with_pi(self, nvme, run):
        assert passed(nvme, f"{run}: dom0 sees the NVMe namespace with PI")

    def test_the_run_completed(self, nvme, run):
        assert passed(nvme, f"{run}: the run completed")
        assert passed(nvme, f"{run}: the domU ran its script and powered off")


class TestProfile:
    def test_the_domu_gets_the_nvme_disks_format_and_interval(self, nvme, run):
        assert passed(nvme, f"{run}: the domU's xvdb has the NVMe disk's integrity format and interval")

    def test_a_partition_and_a_dm_linear_volume_keep_the_profile(self, nvme, run):
        assert passed(nvme, f"{run}: the partition and the dm-linear volume have the same profile in the domU")


class TestLargeRequests:
    def test_blkfront_takes_1mib_requests(self, nvme, run):
        assert passed(nvme, f"{run}: blkfront takes 1 MiB requests (max_indirect_segments=256)")

    def test_4k_1m_and_4m_o_direct_writes_complete(self, nvme, run):
        assert passed(nvme, f"{run}: O_DIRECT writes of 4 KiB, 1 MiB and 4 MiB completed")

    def test_every_read_is_verified_and_identical(self, nvme, run):
        assert passed(nvme, f"{run}: every read came back verified and identical")

    def test_every_request_carries_pi_to_the_disk_without_error(self, nvme, run):
        assert passed(nvme, f"{run}: every request carried PI (frontend pairs >= I/Os)")
        assert passed(nvme, f"{run}: blkback gave the disk PI for every request "
                            "(blkback dix_req >= frontend pairs)")
        assert passed(nvme, f"{run}: the disk found no PI error in the round trip")

    def test_blkback_serves_every_read_and_write_as_a_pair(self, nvme, run):
        assert passed(nvme, f"{run}: blkback served every read and write as a PI pair "
                            "(dix_req = rd_req + wr_req)")


class TestCorruption:
    def test_a_read_with_corrupted_pi_fails_with_eilseq(self, nvme, run):
        assert passed(nvme, f"{run}: 4 reads whose PI was corrupted were injected")
        assert passed(nvme, f"{run}: each corrupted read (4 KiB and 1 MiB) failed with EILSEQ")
        assert passed(nvme, f"{run}: the domU's kernel caught the corrupted reads (guard tag error)")
        assert passed(nvme, f"{run}: the same blocks read back intact once the corruption stopped")

    def test_the_disk_refuses_a_write_with_corrupted_pi(self, nvme, run):
        assert passed(nvme, f"{run}: 4 writes whose PI was corrupted were injected")
        assert passed(nvme, f"{run}: the disk refused each corrupted write: EILSEQ in the domU")
        assert passed(nvme, f"{run}: the NVMe disk reported exactly the injected PI errors")
        assert passed(nvme, f"{run}: the next write, uncorrupted, succeeded and reads back")

    def test_both_drivers_count_the_refused_writes(self, nvme, run):
        assert passed(nvme, f"{run}: blkback and blkfront both counted the 4 refused writes")


class TestLoad:
    def test_more_than_16_pairs_are_in_flight(self, nvme, run):
        assert passed(nvme, f"{run}: load: more than 16 requests were in flight at once")

    def test_every_write_completes_and_every_read_verifies(self, nvme, run):
        assert passed(nvme, f"{run}: load: every write completed and every read verified")
        assert passed(nvme, f"{run}: load: every request carried PI and none failed")


class TestOtherBackings:
    def test_a_partition_at_a_nonzero_offset(self, nvme, run):
        assert passed(nvme, f"{run}: a partition at 1 MiB as backing: I/O round-trips with PI, "
                            "no PI error")

    def test_a_dm_linear_volume_at_a_nonzero_offset(self, nvme, run):
        assert passed(nvme, f"{run}: a dm-linear volume at 40 MiB as backing: I/O round-trips "
                            "with PI, no PI error")


class TestTheDisksOwnErrors:
    def test_a_pi_error_reported_by_the_disk_fails_the_read_with_eilseq(self, nvme, run):
        assert passed(nvme, f"{run}: a PI error reported by the disk fails the read with EILSEQ")
        assert passed(nvme, f"{run}: the disk's blocks read back once its errors stopped")

    def test_both_drivers_count_it(self, nvme, run):
        assert passed(nvme, f"{run}: blkback and blkfront counted the disk's PI errors")


class TestCleanKernels:
    def test_no_bug_warning_or_oops_in_the_domu(self, nvme, run):
        assert passed(nvme, f"{run}: no BUG, WARNING or Oops in the domU")

    def test_no_bug_warning_or_oops_in_dom0(self, nvme):
        assert passed(nvme, "no BUG, WARNING or Oops in dom0's kernel log")

    def test_every_domain_dies_and_every_vbd_goes(self, nvme, run):
        assert passed(nvme, f"{run}: the domain is gone, grants released")
        assert passed(nvme, "no vbd is left in dom0")
