"""xendix, the dom0 control plane, proven in the lab (one boot)."""

from __future__ import annotations

import pytest

from lab.host import job

from .test_lab import passed

pytestmark = pytest.mark.lab

ERRORS = {"not root": 3, "no xenstored": 4, "unknown domain": 6, "unknown vdev": 6,
          "malformed policy": 7, "--now on the root disk": 8}

C = job.checks("ctl")


@pytest.fixture(scope="module")
def ctl(lab_run):
    return lab_run("ctl")


class TestStatus:
    def test_status_runs_in_dom0_and_lists_every_vbd(self, ctl):
        assert passed(ctl, C.STATUS_RUNS_AS_ROOT)
        assert passed(ctl, C.STATUS_LISTS_THREE_VBDS)

    def test_status_names_the_backing_disk_and_its_profile(self, ctl):
        assert passed(ctl, C.STATUS_NAMES_BACKING_AND_PROFILE)

    def test_devices_shows_capability_and_users(self, ctl):
        assert passed(ctl, C.DEVICES_SHOWS_CAPABILITY_AND_USERS)

    def test_status_json_matches_what_the_domu_sees(self, ctl):
        assert passed(ctl, C.STATUS_JSON_MATCHES_THE_DOMU)
        assert passed(ctl, C.STATUS_XVDB_PROTECTED)
        assert passed(ctl, C.STATUS_RAM_DISKS_UNSUPPORTED)


class TestToggle:
    def test_disable_now_takes_the_profile_away(self, ctl):
        assert passed(ctl, C.DISABLE_NOW_SUCCEEDS)
        assert passed(ctl, C.TOGGLE_IS_0_IN_THE_BACKEND)
        assert passed(ctl, C.DISABLE_NOW_TAKES_THE_PROFILE)

    def test_enable_now_gives_it_back(self, ctl):
        assert passed(ctl, C.ENABLE_NOW_SUCCEEDS)
        assert passed(ctl, C.ENABLE_NOW_GIVES_IT_BACK)

    def test_monitor_sees_the_reattach(self, ctl):
        assert passed(ctl, C.MONITOR_SAW_THE_REATTACH)


class TestPolicy:
    def test_the_udev_rule_installs(self, ctl):
        assert passed(ctl, C.UDEV_INSTALL_WRITES_THE_RULE)

    def test_auto_protects_exactly_the_dix_disk_with_no_manual_step(self, ctl):
        assert passed(ctl, C.UDEV_APPLIED_THE_POLICY)
        assert passed(ctl, C.ONE_PROTECTED_DISK)
        assert passed(ctl, C.PROFILE_ON_XVDB_ONLY)
        assert passed(ctl, C.IO_WORKS_ON_THE_PROTECTED_DISK)


class TestErrors:
    @pytest.mark.parametrize("case", sorted(ERRORS))
    def test_each_error_has_its_exit_code_and_one_line(self, ctl, case):
        assert passed(ctl, C.error_exit_code(case, ERRORS[case]))

    def test_no_error_writes_anything(self, ctl):
        assert passed(ctl, C.NO_ERROR_WROTE_TO_XENSTORE)


class TestHardening:
    def test_a_guests_hostile_bytes_are_shown_escaped_and_spoil_no_other_row(self, ctl):
        assert passed(ctl, C.HOSTILE_BYTES_SHOWN_ESCAPED)
        assert passed(ctl, C.HOSTILE_BYTES_SPOIL_NO_OTHER_ROW)

    def test_a_stalled_xenstored_ends_status_with_exit_4_at_its_deadline(self, ctl):
        assert passed(ctl, C.STALLED_XENSTORED_EXITS_4)


class TestClean:
    def test_domains_finish_and_no_vbd_is_left(self, ctl):
        assert passed(ctl, C.TOGGLE_DOMU_RAN_ITS_SCRIPT)
        assert passed(ctl, C.ONLY_DOM0_LEFT_AFTER_TOGGLE_DOMU)
        assert passed(ctl, C.NO_VBD_LEFT_IN_DOM0)

    def test_no_bug_warning_or_oops(self, ctl):
        for name in (C.NO_OOPS_IN_THE_TOGGLE_DOMU, C.NO_OOPS_IN_THE_POLICY_DOMU,
                     C.NO_OOPS_IN_DOM0):
            assert passed(ctl, name)
