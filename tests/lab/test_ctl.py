"""xendix, the dom0 control plane, proven in the lab (one boot)."""

from __future__ import annotations

import pytest

from .test_lab import passed

pytestmark = pytest.mark.lab

ERRORS = {"not root": 3, "no xenstored": 4, "unknown domain": 6, "unknown vdev": 6,
          "malformed policy": 7, "--now on the root disk": 8}


@pytest.fixture(scope="module")
def ctl(lab_run):
    return lab_run("ctl")


class TestStatus:
    def test_status_runs_in_dom0_and_lists_every_vbd(self, ctl):
        assert passed(ctl, "xendix status runs as root in dom0")
        assert passed(ctl, "xendix status lists the domU's three vbds with their vdev names")

    def test_status_names_the_backing_disk_and_its_profile(self, ctl):
        assert passed(ctl, "xendix status names the backing disk and its profile")

    def test_devices_shows_capability_and_users(self, ctl):
        assert passed(ctl, "xendix devices: the DIX disk is capable and backs ctl1:xvdb, "
                           "the RAM disk is not capable")

    def test_status_json_matches_what_the_domu_sees(self, ctl):
        assert passed(ctl, "xendix status --json matches what the domU shows")
        assert passed(ctl, "xendix status: xvdb is protected")
        assert passed(ctl, "xendix status: the RAM disks are unsupported-disk")


class TestToggle:
    def test_disable_now_takes_the_profile_away(self, ctl):
        assert passed(ctl, "xendix disable --now succeeds")
        assert passed(ctl, "the toggle is 0 in the re-attached backend")
        assert passed(ctl, "after disable --now the domU has lost the integrity profile")

    def test_enable_now_gives_it_back(self, ctl):
        assert passed(ctl, "xendix enable --now succeeds")
        assert passed(ctl, "after enable --now the domU has its profile back")

    def test_monitor_sees_the_reattach(self, ctl):
        assert passed(ctl, "xendix monitor saw the re-attach from xenstore and from udev")


class TestPolicy:
    def test_the_udev_rule_installs(self, ctl):
        assert passed(ctl, "xendix udev install writes the rule and reloads udev")

    def test_auto_protects_exactly_the_dix_disk_with_no_manual_step(self, ctl):
        assert passed(ctl, "udev ran xendix apply for every new vbd: 1 on the DIX disk, 0 on the plain ones")
        assert passed(ctl, "exactly one protected disk, the DIX one")
        assert passed(ctl, "the domU sees a profile on xvdb only")
        assert passed(ctl, "O_DIRECT I/O works on the protected disk")


class TestErrors:
    @pytest.mark.parametrize("case", sorted(ERRORS))
    def test_each_error_has_its_exit_code_and_one_line(self, ctl, case):
        assert passed(ctl, f"error {case}: exit {ERRORS[case]} and one line on stderr")

    def test_no_error_writes_anything(self, ctl):
        assert passed(ctl, "no error wrote anything to xenstore")


class TestClean:
    def test_domains_finish_and_no_vbd_is_left(self, ctl):
        assert passed(ctl, "the toggle domU ran its script and powered off")
        assert passed(ctl, "after the toggle domU, only dom0 is left")
        assert passed(ctl, "no vbd is left in dom0")

    def test_no_bug_warning_or_oops(self, ctl):
        for name in ("no BUG, WARNING or Oops in the toggle domU",
                     "no BUG, WARNING or Oops in the policy domU",
                     "no BUG, WARNING or Oops in dom0's kernel log"):
            assert passed(ctl, name)
