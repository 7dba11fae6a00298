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

from lab.host import job

from .test_lab import passed

pytestmark = pytest.mark.lab

RUNS = ("type1-512", "type3-4096")
PART_START_MIB, LINEAR_START_MIB = 1, 40  # dom0.py's: where the other backings start

C = job.checks("nvme")


@pytest.fixture(scope="module")
def nvme(lab_run, series):
    return lab_run("nvme", series)


@pytest.fixture(params=RUNS)
def run(request):
    return request.param


class TestTheDisk:
    def test_dom0_sees_an_nvme_namespace_with_pi(self, nvme, run):
        assert passed(nvme, C.dom0_sees_the_namespace(run))

    def test_the_run_completed(self, nvme, run):
        assert passed(nvme, C.run_completed(run))
        assert passed(nvme, C.domu_ran_its_script(run))


class TestProfile:
    def test_the_domu_gets_the_nvme_disks_format_and_interval(self, nvme, run):
        assert passed(nvme, C.xvdb_has_the_disks_profile(run))

    def test_a_partition_and_a_dm_linear_volume_keep_the_profile(self, nvme, run):
        assert passed(nvme, C.partition_and_volume_keep_the_profile(run))


class TestLargeRequests:
    def test_blkfront_takes_1mib_requests(self, nvme, run):
        assert passed(nvme, C.blkfront_takes_1mib_requests(run))

    def test_4k_1m_and_4m_o_direct_writes_complete(self, nvme, run):
        assert passed(nvme, C.writes_of_4k_1m_and_4m_completed(run))

    def test_every_read_is_verified_and_identical(self, nvme, run):
        assert passed(nvme, C.every_read_verified(run))

    def test_every_request_carries_pi_to_the_disk_without_error(self, nvme, run):
        assert passed(nvme, C.every_request_carried_pi(run))
        assert passed(nvme, C.blkback_gave_the_disk_pi(run))
        assert passed(nvme, C.no_disk_pi_error_in_the_round_trip(run))

    def test_blkback_serves_every_read_and_write_as_a_pair(self, nvme, run):
        assert passed(nvme, C.blkback_served_every_io_as_a_pair(run))


class TestCorruption:
    def test_a_read_with_corrupted_pi_fails_with_eilseq(self, nvme, run):
        assert passed(nvme, C.reads_corrupted(run))
        assert passed(nvme, C.corrupted_reads_failed_with_eilseq(run))
        assert passed(nvme, C.domu_caught_the_corrupted_reads(run))
        assert passed(nvme, C.blocks_intact_after_corruption(run))

    def test_the_disk_refuses_a_write_with_corrupted_pi(self, nvme, run):
        assert passed(nvme, C.writes_corrupted(run))
        assert passed(nvme, C.disk_refused_corrupted_writes(run))
        assert passed(nvme, C.disk_reported_the_injected_errors(run))
        assert passed(nvme, C.next_write_succeeded(run))

    def test_both_drivers_count_the_refused_writes(self, nvme, run):
        assert passed(nvme, C.both_drivers_counted_the_refused_writes(run))


class TestLoad:
    def test_more_than_16_pairs_are_in_flight(self, nvme, run):
        assert passed(nvme, C.load_more_than_16_in_flight(run))

    def test_every_write_completes_and_every_read_verifies(self, nvme, run):
        assert passed(nvme, C.load_every_io_completed(run))
        assert passed(nvme, C.load_every_request_carried_pi(run))


class TestOtherBackings:
    def test_a_partition_at_a_nonzero_offset(self, nvme, run):
        assert passed(nvme, C.backing_round_trips(run, C.partition_at(PART_START_MIB)))

    def test_a_dm_linear_volume_at_a_nonzero_offset(self, nvme, run):
        assert passed(nvme, C.backing_round_trips(run, C.volume_at(LINEAR_START_MIB)))


class TestTheDisksOwnErrors:
    def test_a_pi_error_reported_by_the_disk_fails_the_read_with_eilseq(self, nvme, run):
        assert passed(nvme, C.disk_error_fails_the_read(run))
        assert passed(nvme, C.disk_blocks_read_back_after_errors(run))

    def test_both_drivers_count_it(self, nvme, run):
        assert passed(nvme, C.both_drivers_counted_the_disk_errors(run))


class TestCleanKernels:
    def test_no_bug_warning_or_oops_in_the_domu(self, nvme, run):
        assert passed(nvme, C.no_oops_in_the_domu(run))

    def test_no_bug_warning_or_oops_in_dom0(self, nvme):
        assert passed(nvme, C.NO_OOPS_IN_DOM0)

    def test_every_domain_dies_and_every_vbd_goes(self, nvme, run):
        assert passed(nvme, C.domain_is_gone(run))
        assert passed(nvme, C.NO_VBD_LEFT_IN_DOM0)
