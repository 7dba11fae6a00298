"""DIX on the wire, proven in the lab (the dix scenario, one boot per series)."""

from __future__ import annotations

import pytest

from lab.host import series as kseries

from .test_lab import passed

pytestmark = pytest.mark.lab


# Every test runs once per kernel series, e.g. test_...[6.1] and
# test_...[6.12]; module scope groups the tests of a series together, so
# that each scenario boots once per series.
SERIES = tuple(kseries.names())  # every folder of patches/
CASES = ("new-front-old-back", "old-front-new-back", "admin-disabled")


@pytest.fixture(scope="module", params=SERIES)
def series(request):
    return request.param


@pytest.fixture(scope="module")
def dix(lab_run, series):
    return lab_run("dix", series)


@pytest.fixture(scope="module")
def compat(dix):
    """The compatibility cases run at the end of the dix boot."""
    return dix


class TestProfile:
    def test_the_domu_gets_its_dom0_disks_type1_crc_profile(self, dix):
        assert passed(dix, "the domU's xvdb has its dom0 disk's integrity format")
        assert passed(dix, "and its protection interval and tag size")

    def test_blkback_advertises_it_in_xenstore_and_blkfront_opts_in(self, dix):
        assert passed(dix, "blkback advertised the profile and the frontend opted in")

    def test_blkfront_confirms_the_profile_it_registered_and_blkback_sees_it(self, dix):
        assert passed(dix, "the frontend confirmed the profile it registered (its data-integrity-format)")
        assert passed(dix, "blkback logged that the frontend confirmed the profile")

    def test_a_type3_ip_checksum_disk_gives_a_type3_ip_profile(self, dix):
        assert passed(dix, "type3ip: the domU's profile is T10-DIF-TYPE3-IP with a 512-byte interval")
        assert passed(dix, "type3ip: O_DIRECT I/O with PI works")

    def test_a_4096_byte_protection_interval_is_passed_through(self, dix):
        assert passed(dix, "pi4k: the domU's profile is T10-DIF-TYPE1-CRC with a 4096-byte interval")
        assert passed(dix, "pi4k: O_DIRECT I/O with PI works")


class TestPersistentGrants:
    def test_pairs_work_with_persistent_grants_on(self, dix):
        assert passed(dix, "type3ip: persistent grants were on")
        assert passed(dix, "type3ip: O_DIRECT I/O with PI works")

    def test_pairs_work_with_persistent_grants_off(self, dix):
        assert passed(dix, "pi4k: persistent grants were off")
        assert passed(dix, "pi4k: O_DIRECT I/O with PI works")


class TestWritesAndReads:
    def test_o_direct_writes_of_4k_to_1m_complete(self, dix):
        assert passed(dix, "every O_DIRECT write of 4 KiB to 1 MiB completed")

    def test_reads_are_verified_in_the_domu_and_match(self, dix):
        assert passed(dix, "every read came back verified and identical")

    def test_every_request_carries_pi_to_the_disk(self, dix):
        assert passed(dix, "every request of the matrix carried PI (frontend pairs >= I/Os)")
        assert passed(dix, "blkback gave the disk a PI payload for every I/O of the matrix")
        assert passed(dix, "the disk found no PI error in the matrix")


class TestCorruption:
    def test_a_read_with_corrupted_pi_fails_with_eilseq(self, dix):
        assert passed(dix, "4 reads whose PI was corrupted were injected")
        assert passed(dix, "each corrupted read failed with EILSEQ, none returned data as good")
        assert passed(dix, "the domU's kernel logged the protection errors")

    def test_the_data_itself_was_never_damaged(self, dix):
        assert passed(dix, "the same blocks read back intact once the corruption stopped")

    def test_the_disk_refuses_a_write_with_corrupted_pi(self, dix):
        assert passed(dix, "4 writes whose PI was corrupted were injected")
        assert passed(dix, "the disk refused each corrupted write: EILSEQ in the domU")
        assert passed(dix, "the disk reported exactly the injected PI errors (guard check failed)")
        assert passed(dix, "the next write, uncorrupted, succeeded")

    def test_both_drivers_count_the_protection_errors(self, dix):
        assert passed(dix, "blkback and blkfront both counted the protection errors")


class TestNoSilentGaps:
    def test_no_request_with_pi_left_without_it(self, dix):
        assert passed(dix, "no request with PI went without it or was refused (dix_unprotected, dix_refused = 0)")


class TestCompatibility:
    @pytest.mark.parametrize("case", CASES)
    def test_plain_io_works_without_a_profile(self, compat, case):
        assert passed(compat, f"{case}: the domU has no integrity profile")
        assert passed(compat, f"{case}: 1 MiB of O_DIRECT I/O works")

    def test_a_stock_backend_never_advertises(self, compat):
        assert passed(compat, "new-front-old-back: the stock backend never advertises the feature")

    def test_a_stock_frontend_never_opts_in(self, compat):
        assert passed(compat, "old-front-new-back: blkback advertises, the stock frontend does not opt in")

    def test_the_admin_toggle_turns_dix_off(self, compat):
        assert passed(compat, "admin-disabled: blkback advertises feature-data-integrity = 0")



class TestCleanKernels:
    def test_no_bug_warning_or_oops_anywhere(self, dix):
        for check in ("no BUG, WARNING or Oops in the DIX domU",
                      *(f"{p}: no BUG, WARNING or Oops in the domU" for p in ("type3ip", "pi4k")),
                      *(f"{c}: no BUG, WARNING or Oops in the domU" for c in CASES),
                      "no BUG, WARNING or Oops in dom0's kernel log"):
            assert passed(dix, check)

    def test_every_domain_dies_and_every_vbd_goes(self, dix):
        assert passed(dix, "after the DIX domU, no domain is left dying (all grants released)")
        for case in CASES:
            assert passed(dix, f"{case}: the domain is gone, grants released")
        assert passed(dix, "no vbd is left in dom0")
