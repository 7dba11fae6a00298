"""How every scenario ends: no disk, vbd or kernel problem left behind."""

from __future__ import annotations

from .base import kernel_log_problems, sh, wait_until
from .disks import remove_scsi_debug
from .results import Scenario
from .xs import backend_vbds


def dom0_kernel_problems() -> list[str]:
    return kernel_log_problems(sh("dmesg", timeout=20).stdout)


def check_dom0_clean(s: Scenario) -> None:
    """How every scenario ends: its disks go, no vbd is left behind, and
    dom0's kernel log has no BUG, WARNING or Oops."""
    remove_scsi_debug()
    s.check("no vbd is left in dom0", wait_until(lambda: not backend_vbds(), 30),
            vbds=backend_vbds())
    s.check("no BUG, WARNING or Oops in dom0's kernel log", not dom0_kernel_problems(),
            lines=dom0_kernel_problems())
