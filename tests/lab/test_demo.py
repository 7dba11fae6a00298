"""The demo (`./run`): the point of xen-dix in one boot, on the oldest series (6.1)."""

from __future__ import annotations

import pytest

from lab.host import job

from .test_lab import passed

pytestmark = pytest.mark.lab

C = job.checks("demo")


@pytest.fixture(scope="module")
def demo(lab_run):
    return lab_run("demo")


def test_dom0_has_a_dix_disk_and_a_plain_disk(demo):
    assert passed(demo, C.DOM0_HAS_A_DIX_AND_A_PLAIN_DISK)
    assert passed(demo, C.DOMU_IS_UP)


def test_xvdb_has_the_dix_disks_profile_and_xvdc_none(demo):
    assert passed(demo, C.XVDB_HAS_THE_DIX_PROFILE)
    assert passed(demo, C.XVDC_HAS_NO_PROFILE)


def test_data_round_trips_on_both(demo):
    assert passed(demo, C.data_round_trips("xvdb", "DIX"))
    assert passed(demo, C.data_round_trips("xvdc", "plain"))


def test_rot_under_the_guest_is_caught_with_dix_and_unnoticed_without(demo):
    assert passed(demo, C.DOM0_ROTTED_A_BLOCK_OF_EACH_DISK)
    assert passed(demo, C.ROT_UNDER_DIX_IS_CAUGHT)
    assert passed(demo, C.ROT_WITHOUT_DIX_GOES_UNNOTICED)


def test_xendix_snoop_shows_the_rot_read(demo):
    assert passed(demo, C.SNOOP_SHOWS_THE_ROT_READ)


def test_corruption_in_flight_is_caught(demo):
    assert passed(demo, C.CORRUPTION_IN_FLIGHT_IS_CAUGHT)
    assert passed(demo, C.DATA_ON_DISK_WAS_FINE)


def test_xendix_status_shows_the_verdicts(demo):
    assert passed(demo, C.STATUS_SHOWS_THE_VERDICTS)
    assert "protected" in demo.facts["xendix_status"]


def test_the_domu_and_dom0_end_clean(demo):
    for check in (C.DOMU_RAN_ITS_SCRIPT, C.NO_OOPS_IN_THE_DOMU, C.NO_DYING_DOMAIN_AFTER_THE_DOMU,
                  C.NO_VBD_LEFT_IN_DOM0, C.NO_OOPS_IN_DOM0):
        assert passed(demo, check)
