"""The demo (`./run`): the point of xen-dix in one boot, on the oldest series (6.1)."""

from __future__ import annotations

import pytest

from .test_lab import passed

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def demo(lab_run):
    return lab_run("demo")


def test_dom0_has_a_dix_disk_and_a_plain_disk(demo):
    assert passed(demo, "dom0 has a DIX disk (scsi_debug dif=1 dix=1) and a plain disk "
                        "without PI (a RAM disk)")
    assert passed(demo, "the domU is up with xvdb on the DIX disk and xvdc on the plain disk")


def test_xvdb_has_the_dix_disks_profile_and_xvdc_none(demo):
    assert passed(demo, "the guest's xvdb has exactly the DIX disk's integrity profile "
                        "(format, interval)")
    assert passed(demo, "the guest's xvdc has no integrity profile")


def test_data_round_trips_on_both(demo):
    assert passed(demo, "data written by the guest reads back intact on xvdb (DIX)")
    assert passed(demo, "data written by the guest reads back intact on xvdc (plain)")


def test_rot_under_the_guest_is_caught_with_dix_and_unnoticed_without(demo):
    assert passed(demo, "dom0 rotted one 4 KiB block of each disk behind the guest's back "
                        "(no PI computed)")
    assert passed(demo, "rot under DIX is caught: the guest's read of the rotted block on xvdb "
                        "fails with EILSEQ")
    assert passed(demo, "rot without DIX goes unnoticed: the guest's read on xvdc succeeds, "
                        "with different data")


def test_corruption_in_flight_is_caught(demo):
    assert passed(demo, "corruption in flight is caught: a read of xvdb whose PI blkback "
                        "corrupted fails with EILSEQ")
    assert passed(demo, "the data on disk was fine: the same block reads back intact")


def test_xendix_status_shows_the_verdicts(demo):
    assert passed(demo, "xendix status: xvdb is protected, xvdc is unsupported-disk")
    assert "protected" in demo.facts["xendix_status"]


def test_the_domu_and_dom0_end_clean(demo):
    for check in ("the domU ran its script and powered off",
                  "no BUG, WARNING or Oops in the domU",
                  "after the domU, no domain is left dying (all grants released)",
                  "no vbd is left in dom0",
                  "no BUG, WARNING or Oops in dom0's kernel log"):
        assert passed(demo, check)
