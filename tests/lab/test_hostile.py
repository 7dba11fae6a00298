"""A hostile frontend against the patched blkback, proven in the lab: the
``hostile`` scenario runs fuzzfront (tests/lab/guest/fuzzfront) in the
domU instead of xen-blkfront."""

from __future__ import annotations

import pytest

from .test_lab import passed

pytestmark = pytest.mark.lab

ERROR_ON_BOTH_SLOTS = [
    "a flagged READ followed by a plain READ slot: BLKIF_RSP_ERROR on both",
    "a flagged READ followed by another flagged READ: BLKIF_RSP_ERROR on both",
    "an integrity slot with another id: BLKIF_RSP_ERROR on both, each with its own id",
    "an integrity slot with nr_segments 0: BLKIF_RSP_ERROR on both",
    "an integrity slot with nr_segments 17: BLKIF_RSP_ERROR on both",
    "pi_bytes one tuple short of the data length: BLKIF_RSP_ERROR on both",
    "pi_bytes 0xffffffff with 16 pages: BLKIF_RSP_ERROR on both",
    "nr_segments 2 for PI that fits one page: BLKIF_RSP_ERROR on both",
    "a flagged READ with no data segment: BLKIF_RSP_ERROR on both",
    "a flagged FLUSH: BLKIF_RSP_ERROR on both",
    "a flagged DISCARD: BLKIF_RSP_ERROR on both",
    "a flagged INTEGRITY slot: BLKIF_RSP_ERROR on both",
]

GRANTS_THAT_DO_NOT_MAP = [
    "a PI grant reference beyond the grant table: BLKIF_RSP_ERROR on both",
    "a PI grant reference that was never left granted: BLKIF_RSP_ERROR on both",
    "a READ whose PI page is granted read-only: BLKIF_RSP_ERROR on both",
    "a pair whose data grant does not map: BLKIF_RSP_ERROR on both",
    "an indirect READ whose first PI page maps and second does not: BLKIF_RSP_ERROR on both",
]


@pytest.fixture(scope="module")
def hostile(lab_run):
    return lab_run("hostile")


def test_fuzzfront_binds_the_vbd_and_is_offered_dix(hostile):
    assert passed(hostile, "fuzzfront ran every case and the domU powered off")
    assert passed(hostile, "blkback advertised DIX to fuzzfront (TYPE1, 512-byte interval, 8-byte tuples)")


class TestMalformedPairs:
    def test_a_flagged_request_with_no_integrity_slot_gets_one_error(self, hostile):
        assert passed(hostile, "a flagged READ that is the last slot produced gets one BLKIF_RSP_ERROR")

    def test_a_lone_integrity_slot_gets_one_error(self, hostile):
        assert passed(hostile, "a lone BLKIF_OP_INTEGRITY slot gets one BLKIF_RSP_ERROR")

    @pytest.mark.parametrize("check", ERROR_ON_BOTH_SLOTS)
    def test_a_broken_pair_gets_an_error_on_each_slot(self, hostile, check):
        assert passed(hostile, check)

    @pytest.mark.parametrize("check", GRANTS_THAT_DO_NOT_MAP)
    def test_a_pair_whose_grants_do_not_map_gets_an_error_on_each_slot(self, hostile, check):
        assert passed(hostile, check)

    def test_each_error_answers_its_own_slot(self, hostile):
        assert passed(hostile, "each BLKIF_RSP_ERROR names the slot it answers (its operation and id)")

    def test_data_off_a_protection_interval_is_refused_where_it_can_happen(self, hostile):
        assert passed(hostile, "a flagged READ off a protection interval boundary gets BLKIF_RSP_ERROR "
                               "(skipped on a 512-byte interval)")


class TestAfterwards:
    def test_a_well_formed_read_pair_still_works(self, hostile):
        assert passed(hostile, "a well-formed 4 KiB READ pair after all the bad ones gets "
                               "BLKIF_RSP_OKAY on both slots")

    def test_a_write_with_correct_pi_is_stored_and_reads_back(self, hostile):
        assert passed(hostile, "a well-formed WRITE pair with correct T10 PI gets BLKIF_RSP_OKAY on both slots")
        assert passed(hostile, "reading the good write back returns its data and its PI")

    def test_a_write_with_a_wrong_guard_gets_eintegrity_and_is_counted_once(self, hostile):
        assert passed(hostile, "the same WRITE with a wrong guard tag gets BLKIF_RSP_EINTEGRITY on both slots")
        assert passed(hostile, "blkback counted exactly one integrity error (dix_err == 1)")


class TestNothingLeaks:
    def test_no_grant_stays_mapped_after_its_responses(self, hostile):
        assert passed(hostile, "every grant of every case could be ended once its responses were in (leaked=0)")

    def test_the_vbd_closes_and_the_domain_dies(self, hostile):
        assert passed(hostile, "fuzzfront closed when dom0 detached the disk and blkback removed the vbd")
        assert passed(hostile, "the hostile domain dies (no grant left mapped in dom0)")
        assert passed(hostile, "no vbd is left in dom0")

    def test_no_bug_warning_or_oops_in_dom0_or_the_domu(self, hostile):
        assert passed(hostile, "no BUG, WARNING or Oops in dom0's kernel log")
        assert passed(hostile, "no BUG, WARNING or Oops in the hostile domU")
