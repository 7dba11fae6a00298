"""A hostile frontend against the patched blkback, proven in the lab: the
``hostile`` scenario runs fuzzfront (lab/domu/fuzzfront) in the domU
instead of xen-blkfront, on four vbds: a scsi_debug DIX disk (every case),
the same disk without the DIX opt-in, an NVMe namespace with PI (the pairs
with several pages of PI), and the scsi_debug disk with persistent grants
and persistent PI grants.  One boot per kernel series."""

from __future__ import annotations

import pytest

from lab.host import job

from .test_lab import passed

pytestmark = pytest.mark.lab

# Every test runs once per kernel series; module scope groups the tests of
# a series together, so that the scenario boots once per series.

C = job.checks("hostile")
FLOOD_PAIRS = 320  # dom0.py's FLOOD_PAIRS

ERROR_ON_BOTH_SLOTS = [
    C.FLAGGED_READ_THEN_PLAIN_READ,
    C.FLAGGED_READ_THEN_FLAGGED_READ,
    C.INTEGRITY_SLOT_WITH_ANOTHER_ID,
    C.INTEGRITY_SLOT_WITH_0_SEGMENTS,
    C.INTEGRITY_SLOT_WITH_17_SEGMENTS,
    C.PI_BYTES_ONE_TUPLE_SHORT,
    C.PI_BYTES_HUGE,
    C.TWO_SEGMENTS_FOR_ONE_PAGE_OF_PI,
    C.FLAGGED_READ_WITHOUT_DATA,
    C.FLAGGED_FLUSH,
    C.FLAGGED_DISCARD,
    C.FLAGGED_INTEGRITY_SLOT,
]

GRANTS_THAT_DO_NOT_MAP = [
    C.PI_GRANT_BEYOND_THE_TABLE,
    C.PI_GRANT_NEVER_LEFT_GRANTED,
    C.PI_PAGE_READ_ONLY_FOR_A_READ,
    C.DATA_GRANT_DOES_NOT_MAP,
    C.SECOND_PI_PAGE_DOES_NOT_MAP,
]

RESERVED_FIELDS = [
    C.RESERVED_PAD1_NOT_ZERO,
    C.RESERVED_GREF1_GRANTED,
    C.RESERVED_GREF15_GRANTED,
]

FLAGGED_WITHOUT_DIX = [
    C.NO_DIX_FLAGGED_READ,
    C.NO_DIX_FLAGGED_WRITE,
    C.NO_DIX_FLAGGED_INDIRECT_READ,
    C.NO_DIX_WHOLE_PAIR,
]

DISKS = ("scsi_debug", "nvme")


@pytest.fixture(scope="module")
def hostile(lab_run, series):
    return lab_run("hostile", series)


def test_fuzzfront_binds_the_vbd_and_is_offered_dix(hostile):
    assert passed(hostile, C.FUZZFRONT_RAN_EVERY_CASE)
    assert passed(hostile, C.BLKBACK_ADVERTISED_DIX)


class TestMalformedPairs:
    def test_a_flagged_request_with_no_integrity_slot_gets_one_error(self, hostile):
        assert passed(hostile, C.FLAGGED_READ_AS_LAST_SLOT)

    def test_a_lone_integrity_slot_gets_one_error(self, hostile):
        assert passed(hostile, C.LONE_INTEGRITY_SLOT)

    @pytest.mark.parametrize("check", ERROR_ON_BOTH_SLOTS)
    def test_a_broken_pair_gets_an_error_on_each_slot(self, hostile, check):
        assert passed(hostile, check)

    @pytest.mark.parametrize("check", GRANTS_THAT_DO_NOT_MAP)
    def test_a_pair_whose_grants_do_not_map_gets_an_error_on_each_slot(self, hostile, check):
        assert passed(hostile, check)

    def test_each_error_answers_its_own_slot(self, hostile):
        assert passed(hostile, C.EACH_ERROR_NAMES_ITS_SLOT)

    def test_data_off_a_protection_interval_is_refused_where_it_can_happen(self, hostile):
        assert passed(hostile, C.UNALIGNED_READ_REFUSED)


class TestReservedFields:
    """_pad1 and the integrity slot's gref[] past nr_segments must be 0."""

    @pytest.mark.parametrize("check", RESERVED_FIELDS)
    def test_a_pair_with_a_non_zero_reserved_field_gets_an_error_on_each_slot(self, hostile, check):
        assert passed(hostile, check)


class TestWithoutDix:
    """On a vbd where the frontend did not opt in, a flagged operation is
    unknown: one slot, BLKIF_RSP_EOPNOTSUPP, and the next slot is not
    taken as part of a pair."""

    def test_blkback_offers_dix_and_the_frontend_does_not_opt_in(self, hostile):
        assert passed(hostile, C.NO_DIX_OFFERED_BUT_NOT_OPTED_IN)

    @pytest.mark.parametrize("check", FLAGGED_WITHOUT_DIX)
    def test_a_flagged_operation_is_answered_alone_and_the_next_slot_gets_its_own_answer(
            self, hostile, check):
        assert passed(hostile, check)

    def test_plain_requests_work_and_no_pair_is_taken(self, hostile):
        assert passed(hostile, C.NO_DIX_PLAIN_READ_OKAY)
        assert passed(hostile, C.NO_DIX_NO_PAIR_TAKEN)


class TestFlood:
    def test_every_slot_of_320_bad_pairs_gets_its_own_error(self, hostile):
        assert passed(hostile, C.flood_every_slot_answered(FLOOD_PAIRS))
        assert passed(hostile, C.FLOOD_FILLED_THE_RING)

    def test_no_grant_of_the_flood_stays_mapped(self, hostile):
        assert passed(hostile, C.FLOOD_LEFT_NO_GRANT_MAPPED)

    def test_good_pairs_after_the_flood_still_work(self, hostile):
        assert passed(hostile, C.GOOD_READ_PAIR_AFTERWARDS)
        assert passed(hostile, C.GOOD_WRITE_READS_BACK)


class TestAfterwards:
    def test_a_well_formed_read_pair_still_works(self, hostile):
        assert passed(hostile, C.GOOD_READ_PAIR_AFTERWARDS)

    def test_a_write_with_correct_pi_is_stored_and_reads_back(self, hostile):
        assert passed(hostile, C.GOOD_WRITE_PAIR)
        assert passed(hostile, C.GOOD_WRITE_READS_BACK)

    def test_a_write_with_a_wrong_guard_gets_eintegrity_and_is_counted(self, hostile):
        assert passed(hostile, C.WRONG_GUARD_GETS_EINTEGRITY)
        assert passed(hostile, C.BLKBACK_COUNTED_TWO_INTEGRITY_ERRORS)


@pytest.mark.parametrize("disk", DISKS)
class TestMultiPagePi:
    """1 MiB pairs carry 4 pages of PI; blkback splits the bios at PI page
    boundaries, so that each gets the PI of its own data in one segment."""

    def test_a_1mib_pair_with_4_pages_of_pi_round_trips(self, hostile, disk):
        assert passed(hostile, C.multipage_write_ok(disk))
        assert passed(hostile, C.multipage_read_back(disk))

    def test_pi_page_boundaries_inside_data_pages(self, hostile, disk):
        assert passed(hostile, C.multipage_offset_data_intact(disk))

    def test_a_bad_guard_in_the_third_pi_page_reaches_the_response(self, hostile, disk):
        assert passed(hostile, C.multipage_bad_guard_in_third_page(disk))


class TestNvme:
    def test_the_nvme_namespace_takes_one_integrity_segment(self, hostile):
        assert passed(hostile, C.NVME_NAMESPACE_WITH_PI)
        assert passed(hostile, C.NVME_BLKBACK_ADVERTISED_DIX)

    def test_the_namespace_itself_refuses_the_bad_page_and_it_is_counted_once(self, hostile):
        assert passed(hostile, C.NVME_REFUSED_THE_BAD_PAGE)
        assert passed(hostile, C.NVME_READ_PAIR_AFTERWARDS)


class TestPersistentPiGrants:
    """On xvde fuzzfront writes feature-persistent and
    feature-persistent-integrity, so that blkback keeps the PI grants of
    pairs mapped with its persistent grants (patch 0015), and sends what a
    hostile frontend can do with them."""

    def test_the_vbd_uses_persistent_grants_and_dix(self, hostile):
        assert passed(hostile, C.PERSISTENT_NEGOTIATED)

    def test_a_pi_grant_that_is_the_data_grant_is_mapped_once_more_and_works(self, hostile):
        assert passed(hostile, C.PERSISTENT_WRITE_OK)
        assert passed(hostile, C.PERSISTENT_PI_IS_DATA)

    def test_two_pairs_in_flight_with_one_pi_grant_both_work(self, hostile):
        assert passed(hostile, C.PERSISTENT_PI_SHARED_IN_FLIGHT)

    def test_a_read_only_pi_grant_is_refused_and_counted(self, hostile):
        assert passed(hostile, C.PERSISTENT_PI_READ_ONLY)
        assert passed(hostile, C.PERSISTENT_ONLY_READ_ONLY_REJECTED)

    def test_a_pi_grant_blkback_keeps_cannot_be_revoked(self, hostile):
        assert passed(hostile, C.PERSISTENT_PI_REVOKED)

    def test_good_pairs_reuse_the_same_pi_grants(self, hostile):
        assert passed(hostile, C.PERSISTENT_PI_REUSED)

    def test_blkback_kept_the_pi_grants_mapped(self, hostile):
        assert passed(hostile, C.PERSISTENT_PI_KEPT_MAPPED)
        assert passed(hostile, C.PERSISTENT_GRANTS_COUNTED_AT_DISCONNECT)

    def test_a_grant_in_use_is_only_an_alert_in_dom0s_log(self, hostile):
        assert passed(hostile, C.PERSISTENT_GRANT_IN_USE_ALERTS)
        assert passed(hostile, C.NO_OOPS_IN_DOM0)


class TestNothingLeaks:
    def test_no_grant_stays_mapped_after_its_responses(self, hostile):
        assert passed(hostile, C.NO_GRANT_LEAKED)

    def test_the_vbd_closes_and_the_domain_dies(self, hostile):
        assert passed(hostile, C.FUZZFRONT_CLOSED_ON_DETACH)
        assert passed(hostile, C.HOSTILE_DOMAIN_DIES)
        assert passed(hostile, C.NO_VBD_LEFT_IN_DOM0)

    def test_no_bug_warning_or_oops_in_dom0_or_the_domu(self, hostile):
        assert passed(hostile, C.NO_OOPS_IN_DOM0)
        assert passed(hostile, C.NO_OOPS_IN_THE_HOSTILE_DOMU)
