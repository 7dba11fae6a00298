"""DIX through a guest's whole life, proven in the lab (scenario lifecycle,
one boot per series).

One domU, with 2 queues and a 4-page ring, on a dm volume over an NVMe
namespace with PI: pairs on both rings and across each ring's wrap index;
save and restore onto DIX, onto a stock blkback and onto DIX again, and a
live migration to the same host, each with I/O running; the guest
re-binding its vbd; ``xendix disable --now`` and ``enable --now``; the
volume losing its profile under the connected vbd, then moving onto a
TYPE3-CRC disk with 4096-byte blocks.  Then a domU of the other series'
kernel against this dom0: over the two series' boots, both mixed pairs.
"""

from __future__ import annotations

import pytest

from lab.host import job

from .test_lab import passed

pytestmark = pytest.mark.lab

C = job.checks("lifecycle")
SAVES = (C.SAVE_RESTORE_DIX, C.SAVE_RESTORE_STOCK, C.SAVE_RESTORE_BACK)
RELIVES = (*SAVES, C.MIGRATE)


@pytest.fixture(scope="module")
def life(lab_run, series):
    return lab_run("lifecycle", series)


class TestRingsAndQueues:
    def test_the_domu_ran_its_script(self, life):
        assert passed(life, C.DOMU_RAN_ITS_SCRIPT)

    def test_xvdb_has_the_volumes_profile(self, life):
        assert passed(life, C.XVDB_HAS_THE_VOLUMES_PROFILE)

    def test_two_queues_and_a_4_page_ring(self, life):
        assert passed(life, C.TWO_QUEUES_AND_A_4_PAGE_RING)

    def test_pairs_in_flight_on_every_queue(self, life):
        assert passed(life, C.PAIRS_ON_EVERY_QUEUE)

    def test_pairs_cross_each_rings_wrap_index(self, life):
        assert passed(life, C.PAIRS_CROSSED_THE_WRAP)

    def test_the_io_on_both_queues_verified(self, life):
        assert passed(life, C.RING_IO_VERIFIED)
        assert passed(life, C.RINGS_ONLY_PAIRS)


@pytest.mark.parametrize("step", RELIVES)
class TestSaveRestoreAndMigration:
    def test_io_was_in_flight_when_it_began(self, life, step):
        assert passed(life, C.io_was_in_flight(step))

    def test_no_io_is_lost(self, life, step):
        assert passed(life, C.no_io_lost(step))


@pytest.mark.parametrize("step", SAVES)
def test_xl_save_and_restore_succeed(life, step):
    assert passed(life, C.step_succeeded(step))


def test_debians_xen_refuses_a_pv_live_migration_before_suspending(life):
    assert passed(life, C.MIGRATION_REFUSED_BEFORE_SUSPEND)


class TestWhereDixGoes:
    @pytest.mark.parametrize("step", (C.SAVE_RESTORE_DIX, C.SAVE_RESTORE_BACK, C.MIGRATE))
    def test_onto_dix_the_guest_keeps_its_profile_and_sends_pairs(self, life, step):
        assert passed(life, C.profile_in_use(step))

    def test_onto_dix_every_request_of_the_new_connection_is_a_pair(self, life):
        assert passed(life, C.RESTORE_ONLY_PAIRS)

    def test_onto_stock_the_guest_drops_pi_visibly(self, life):
        assert passed(life, C.STOCK_DROPS_THE_PROFILE_VISIBLY)

    def test_onto_stock_xendix_status_does_not_say_protected(self, life):
        assert passed(life, C.STOCK_STATUS_IS_NOT_PROTECTED)

    def test_onto_dix_again_the_guest_restores_pi(self, life):
        assert passed(life, C.BACK_RESTORES_THE_PROFILE)


class TestReconnects:
    def test_disable_now_drops_the_profile(self, life):
        assert passed(life, C.DISABLE_NOW_DROPS_THE_PROFILE)

    def test_enable_now_gives_it_back(self, life):
        assert passed(life, C.ENABLE_NOW_GIVES_IT_BACK)

    def test_xendix_status_follows_the_toggle(self, life):
        assert passed(life, C.STATUS_FOLLOWS_THE_TOGGLE)


class TestTheBackingDeviceChanges:
    def test_the_volume_lost_its_profile(self, life):
        assert passed(life, C.VOLUME_LOST_ITS_PROFILE)

    def test_pairs_then_fail_with_eio(self, life):
        assert passed(life, C.LOST_PAIRS_FAIL_WITH_EIO)

    def test_blkback_counts_and_logs_the_refusals(self, life):
        assert passed(life, C.LOST_IS_COUNTED)

    def test_xendix_status_says_profile_changed(self, life):
        assert passed(life, C.STATUS_SAYS_PROFILE_CHANGED)

    def test_a_reattach_takes_no_profile(self, life):
        assert passed(life, C.REATTACH_WITHOUT_PROFILE)

    def test_a_reattach_onto_another_profile_takes_it(self, life):
        assert passed(life, C.REATTACH_WITH_ANOTHER_PROFILE)


class TestTheX86_32Abi:
    """No Debian 12 kernel runs as a 32-bit PV guest: the translation runs
    on its own in dom0, through a module that fails to load when a field
    is wrong."""

    def test_every_translation_case_is_exact(self, life):
        assert passed(life, C.X86_32_EVERY_CASE_PASSES)

    def test_the_harness_fails_when_an_expected_field_is_wrong(self, life):
        assert passed(life, C.X86_32_HARNESS_FAILS_ON_A_WRONG_FIELD)


class TestMixedKernels:
    def test_the_other_series_domu_ran(self, life):
        assert passed(life, C.MIXED_DOMU_RAN_ITS_SCRIPT)

    def test_it_has_the_disks_profile(self, life):
        assert passed(life, C.MIXED_PROFILE)

    def test_io_round_trips_as_pairs(self, life):
        assert passed(life, C.MIXED_ROUND_TRIP)

    def test_corrupted_reads_fail_with_eilseq(self, life):
        assert passed(life, C.MIXED_CORRUPTED_READS_FAIL)

    def test_corrupted_writes_are_refused(self, life):
        assert passed(life, C.MIXED_CORRUPTED_WRITES_REFUSED)

    def test_both_drivers_count_the_refused_writes(self, life):
        assert passed(life, C.MIXED_COUNTERS)


class TestTheEnd:
    def test_no_oops_in_either_domu(self, life):
        assert passed(life, C.NO_OOPS_IN_THE_DOMUS)

    def test_no_domain_left(self, life):
        assert passed(life, C.NO_DOMAIN_LEFT)

    def test_dom0_is_clean(self, life):
        assert passed(life, C.NO_VBD_LEFT_IN_DOM0)
        assert passed(life, C.NO_OOPS_IN_DOM0)
