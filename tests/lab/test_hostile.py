"""A hostile frontend against the patched blkback, proven in the lab: the
``hostile`` scenario runs fuzzfront (tests/lab/guest/fuzzfront) in the
domU instead of xen-blkfront, on three vbds: a scsi_debug DIX disk (every
case), the same disk without the DIX opt-in, and an NVMe namespace with PI
(the pairs with several pages of PI).  One boot per kernel series."""

from __future__ import annotations

import pytest

from lab.host import series as kseries

from .test_lab import passed

pytestmark = pytest.mark.lab

# Every test runs once per kernel series; module scope groups the tests of
# a series together, so that the scenario boots once per series.
SERIES = tuple(kseries.names())  # every folder of patches/

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

RESERVED_FIELDS = [
    "reserved: an integrity slot with _pad1 != 0: BLKIF_RSP_ERROR on both",
    "reserved: a granted page in gref[1] of a 1-page integrity slot: BLKIF_RSP_ERROR on both",
    "reserved: a granted page in gref[15] of a 1-page integrity slot: BLKIF_RSP_ERROR on both",
]

FLAGGED_WITHOUT_DIX = [
    "no DIX: a flagged READ gets BLKIF_RSP_EOPNOTSUPP on its one slot "
    "and the plain READ after it its own BLKIF_RSP_OKAY",
    "no DIX: a flagged WRITE gets BLKIF_RSP_EOPNOTSUPP on its one slot "
    "and the plain WRITE after it its own BLKIF_RSP_OKAY",
    "no DIX: a flagged INDIRECT READ gets BLKIF_RSP_EOPNOTSUPP on its "
    "one slot and the plain READ after it its own BLKIF_RSP_OKAY",
    "no DIX: a whole pair is two requests: BLKIF_RSP_EOPNOTSUPP on the flagged "
    "READ, BLKIF_RSP_ERROR on the integrity slot alone",
]

DISKS = ("scsi_debug", "nvme")


@pytest.fixture(scope="module", params=SERIES)
def series(request):
    return request.param


@pytest.fixture(scope="module")
def hostile(lab_run, series):
    return lab_run("hostile", series)


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
        assert passed(hostile, "no DIX: blkback offered DIX on xvdc but fuzzfront did not opt in")

    @pytest.mark.parametrize("check", FLAGGED_WITHOUT_DIX)
    def test_a_flagged_operation_is_answered_alone_and_the_next_slot_gets_its_own_answer(
            self, hostile, check):
        assert passed(hostile, check)

    def test_plain_requests_work_and_no_pair_is_taken(self, hostile):
        assert passed(hostile, "no DIX: a plain READ gets BLKIF_RSP_OKAY")
        assert passed(hostile, "no DIX: blkback took no pair on xvdc (dix_req == 0)")


class TestFlood:
    def test_every_slot_of_320_bad_pairs_gets_its_own_error(self, hostile):
        assert passed(hostile, "flood: 320 malformed pairs back to back: every slot gets exactly one "
                               "BLKIF_RSP_ERROR, in order, naming its slot")
        assert passed(hostile, "flood: the ring was full again and again (at least 10 times)")

    def test_no_grant_of_the_flood_stays_mapped(self, hostile):
        assert passed(hostile, "flood: no grant of the flood stays mapped (leaked=0)")

    def test_good_pairs_after_the_flood_still_work(self, hostile):
        assert passed(hostile, "a well-formed 4 KiB READ pair after all the bad ones gets "
                               "BLKIF_RSP_OKAY on both slots")
        assert passed(hostile, "reading the good write back returns its data and its PI")


class TestAfterwards:
    def test_a_well_formed_read_pair_still_works(self, hostile):
        assert passed(hostile, "a well-formed 4 KiB READ pair after all the bad ones gets "
                               "BLKIF_RSP_OKAY on both slots")

    def test_a_write_with_correct_pi_is_stored_and_reads_back(self, hostile):
        assert passed(hostile, "a well-formed WRITE pair with correct T10 PI gets BLKIF_RSP_OKAY on both slots")
        assert passed(hostile, "reading the good write back returns its data and its PI")

    def test_a_write_with_a_wrong_guard_gets_eintegrity_and_is_counted(self, hostile):
        assert passed(hostile, "the same WRITE with a wrong guard tag gets BLKIF_RSP_EINTEGRITY on both slots")
        assert passed(hostile, "blkback counted exactly two integrity errors (dix_err == 2)")


@pytest.mark.parametrize("disk", DISKS)
class TestMultiPagePi:
    """1 MiB pairs carry 4 pages of PI; blkback splits the bios at PI page
    boundaries, so that each gets the PI of its own data in one segment."""

    def test_a_1mib_pair_with_4_pages_of_pi_round_trips(self, hostile, disk):
        assert passed(hostile, f"{disk}: a 1 MiB WRITE pair (256 indirect segments, 4 pages of PI) "
                               "gets BLKIF_RSP_OKAY on both slots")
        assert passed(hostile, f"{disk}: reading the 1 MiB back returns its data and its 4 pages of PI")

    def test_pi_page_boundaries_inside_data_pages(self, hostile, disk):
        assert passed(hostile, f"{disk}: the same with the data 3 sectors into its first page (each PI "
                               "page boundary inside a data page) is written and read back intact")

    def test_a_bad_guard_in_the_third_pi_page_reaches_the_response(self, hostile, disk):
        assert passed(hostile, f"{disk}: a 1 MiB WRITE whose PI is good but for a wrong guard in its "
                               "third page gets BLKIF_RSP_EINTEGRITY on both slots")


class TestNvme:
    def test_the_nvme_namespace_takes_one_integrity_segment(self, hostile):
        assert passed(hostile, "nvme: dom0 sees the NVMe namespace with PI (TYPE1-CRC, 512-byte "
                               "interval, one integrity segment per command)")
        assert passed(hostile, "nvme: blkback advertised DIX to fuzzfront on the NVMe vbd (TYPE1, "
                               "512-byte interval, 8-byte tuples)")

    def test_the_namespace_itself_refuses_the_bad_page_and_it_is_counted_once(self, hostile):
        assert passed(hostile, "nvme: the namespace refused the bad third PI page itself (one PI error), "
                               "and blkback counted it (dix_err == 1)")
        assert passed(hostile, "nvme: a 4 KiB READ pair afterwards gets BLKIF_RSP_OKAY on both slots")


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
