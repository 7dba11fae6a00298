"""DIX on the wire, proven in the lab (the dix scenario, one boot per series)."""

from __future__ import annotations

import pytest

from lab.host import job

from .test_lab import passed

pytestmark = pytest.mark.lab


# Every test runs once per kernel series (conftest's ``series``).
CASES = ("new-front-old-back", "old-front-new-back", "admin-disabled")
RUNS = ("type3ip", "pi4k")  # the other profiles
CORRUPT = 4  # dom0.py's CORRUPT: reads, then writes, whose PI blkback corrupts

C = job.checks("dix")


@pytest.fixture(scope="module")
def dix(lab_run, series):
    return lab_run("dix", series)


@pytest.fixture(scope="module")
def compat(dix):
    """The compatibility cases run at the end of the dix boot."""
    return dix


class TestProfile:
    def test_the_domu_gets_its_dom0_disks_type1_crc_profile(self, dix):
        assert passed(dix, C.XVDB_HAS_DOM0_FORMAT)
        assert passed(dix, C.XVDB_HAS_DOM0_INTERVAL_AND_TAG_SIZE)

    def test_blkback_advertises_it_in_xenstore_and_blkfront_opts_in(self, dix):
        assert passed(dix, C.BLKBACK_ADVERTISED_FRONTEND_OPTED_IN)

    def test_blkfront_confirms_the_profile_it_registered_and_blkback_sees_it(self, dix):
        assert passed(dix, C.FRONTEND_CONFIRMED_ITS_PROFILE)
        assert passed(dix, C.BLKBACK_LOGGED_THE_CONFIRMATION)

    def test_a_type3_ip_checksum_disk_gives_a_type3_ip_profile(self, dix):
        assert passed(dix, C.run_profile_is("type3ip", "T10-DIF-TYPE3-IP", "512"))
        assert passed(dix, C.run_io_with_pi_works("type3ip"))

    def test_a_4096_byte_protection_interval_is_passed_through(self, dix):
        assert passed(dix, C.run_profile_is("pi4k", "T10-DIF-TYPE1-CRC", "4096"))
        assert passed(dix, C.run_io_with_pi_works("pi4k"))


class TestPersistentGrants:
    def test_pairs_work_with_persistent_grants_on(self, dix):
        assert passed(dix, C.run_persistent_grants_were("type3ip", "on"))
        assert passed(dix, C.run_io_with_pi_works("type3ip"))

    def test_pairs_work_with_persistent_grants_off(self, dix):
        assert passed(dix, C.run_persistent_grants_were("pi4k", "off"))
        assert passed(dix, C.run_io_with_pi_works("pi4k"))


class TestWritesAndReads:
    def test_o_direct_writes_of_4k_to_1m_complete(self, dix):
        assert passed(dix, C.EVERY_MATRIX_WRITE_COMPLETED)

    def test_reads_are_verified_in_the_domu_and_match(self, dix):
        assert passed(dix, C.EVERY_MATRIX_READ_VERIFIED)

    def test_every_request_carries_pi_to_the_disk(self, dix):
        assert passed(dix, C.EVERY_MATRIX_REQUEST_CARRIED_PI)
        assert passed(dix, C.BLKBACK_GAVE_THE_DISK_PI)
        assert passed(dix, C.NO_DISK_PI_ERROR_IN_THE_MATRIX)


class TestCorruption:
    def test_a_read_with_corrupted_pi_fails_with_eilseq(self, dix):
        assert passed(dix, C.reads_corrupted(CORRUPT))
        assert passed(dix, C.CORRUPTED_READS_FAILED_WITH_EILSEQ)
        assert passed(dix, C.DOMU_LOGGED_PROTECTION_ERRORS)

    def test_the_data_itself_was_never_damaged(self, dix):
        assert passed(dix, C.BLOCKS_INTACT_AFTER_CORRUPTION)

    def test_the_disk_refuses_a_write_with_corrupted_pi(self, dix):
        assert passed(dix, C.writes_corrupted(CORRUPT))
        assert passed(dix, C.DISK_REFUSED_CORRUPTED_WRITES)
        assert passed(dix, C.DISK_REPORTED_THE_INJECTED_ERRORS)
        assert passed(dix, C.NEXT_WRITE_SUCCEEDED)

    def test_both_drivers_count_the_protection_errors(self, dix):
        assert passed(dix, C.BOTH_DRIVERS_COUNTED_THE_ERRORS)


class TestNoSilentGaps:
    def test_no_request_with_pi_left_without_it(self, dix):
        assert passed(dix, C.NO_REQUEST_WENT_WITHOUT_PI)


class TestCompatibility:
    @pytest.mark.parametrize("case", CASES)
    def test_plain_io_works_without_a_profile(self, compat, case):
        assert passed(compat, C.case_has_no_profile(case))
        assert passed(compat, C.case_plain_io_works(case))

    def test_a_stock_backend_never_advertises(self, compat):
        assert passed(compat, C.STOCK_BACKEND_NEVER_ADVERTISES)

    def test_a_stock_frontend_never_opts_in(self, compat):
        assert passed(compat, C.STOCK_FRONTEND_DOES_NOT_OPT_IN)

    def test_the_admin_toggle_turns_dix_off(self, compat):
        assert passed(compat, C.ADMIN_TOGGLE_ADVERTISES_ZERO)



class TestCleanKernels:
    def test_no_bug_warning_or_oops_anywhere(self, dix):
        for check in (C.NO_OOPS_IN_THE_DIX_DOMU,
                      *(C.no_oops_in_the_domu_of(p) for p in RUNS),
                      *(C.no_oops_in_the_domu_of(c) for c in CASES),
                      C.NO_OOPS_IN_DOM0):
            assert passed(dix, check)

    def test_every_domain_dies_and_every_vbd_goes(self, dix):
        assert passed(dix, C.NO_DYING_DOMAIN_AFTER_THE_DIX_DOMU)
        for case in CASES:
            assert passed(dix, C.case_domain_is_gone(case))
        assert passed(dix, C.NO_VBD_LEFT_IN_DOM0)
