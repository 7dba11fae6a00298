"""dom0's kernel side: which modules run, blkback's counters and its
test hooks, and what the disks themselves reported."""

from __future__ import annotations

import re
from pathlib import Path

from .base import LAB, read, sh
from .xs import XVDB, vbd_name, vbd_sysfs


def module_srcversion(name: str) -> str:
    return read(f"/sys/module/{name.replace('-', '_')}/srcversion")


def module_taint(name: str) -> str:
    return read(f"/sys/module/{name.replace('-', '_')}/taint")


def load_backend(flavour: str) -> None:
    """Replace the loaded xen-blkback with one of the job's builds."""
    if Path("/sys/module/xen_blkback").exists():
        sh("rmmod", "xen_blkback")
    sh("insmod", str(LAB / "modules" / flavour / "xen-blkback.ko"))


def blkback_stats(domid: int, devid: int = XVDB) -> dict[str, int]:
    """blkback's per-vbd statistics (rd_req, wr_req, dix_req, dix_err...)."""
    base = vbd_sysfs(domid, devid) / "statistics"
    return {p.name: int(read(p, "0") or 0) for p in sorted(base.glob("*"))}


def disk_pi_rejections() -> int:
    """How many commands dom0's SCSI disks failed because the device found
    the PI wrong ("Logical block guard/reference tag check failed" sense).
    Debian builds without /proc/scsi, so scsi_debug's own counters are out
    of reach; the sense data the disk returns is the device's word."""
    log = sh("dmesg", timeout=20).stdout
    return len(re.findall(r"Add\. Sense: Logical block (?:guard|reference tag|application tag) "
                          r"check failed", log))


NVME_PI_STATUS = re.compile(r"\bnvme\d+n\d+: .*\(sct 0x2 / sc 0x8[234]\)")


def nvme_pi_rejections() -> int:
    """How many commands dom0's NVMe disks failed with a PI status: the
    end-to-end guard (sc 0x82), application tag (0x83) or reference tag
    (0x84) check error, as the nvme driver logs them (ratelimited: ten
    in five seconds)."""
    return sum(1 for line in sh("dmesg", timeout=20).stdout.splitlines()
               if NVME_PI_STATUS.search(line))


DEBUGFS = Path("/sys/kernel/debug")


class PiFault:
    """blkback's fault injection on one vbd (CONFIG_FAIL_XEN_BLKBACK_DIX,
    the kernel's fault-injection framework): corrupt the PI of the next N
    DIX reads (after the disk) or writes (before it).  The attribute is
    /sys/kernel/debug/xen-blkback/vbd-<domid>-<devid>/fail_dix_<direction>;
    ``times`` counts down as blkback uses it."""

    def __init__(self, domid: int, devid: int = XVDB, direction: str = "read") -> None:
        if direction not in ("read", "write"):
            raise ValueError(f"direction is read or write, not {direction!r}")
        if not (DEBUGFS / "xen-blkback").exists():
            sh("mount", "-t", "debugfs", "debugfs", str(DEBUGFS), check=False)
        self.attr = DEBUGFS / "xen-blkback" / vbd_name(domid, devid) / f"fail_dix_{direction}"
        self.armed = 0

    def _set(self, name: str, value: int) -> None:
        (self.attr / name).write_text(f"{value}\n")

    def arm(self, n: int) -> None:
        """Corrupt exactly the next ``n`` requests of this direction."""
        for name, value in (("verbose", 0), ("probability", 100), ("interval", 1), ("space", 0)):
            self._set(name, value)
        self.armed = n
        self._set("times", n)  # last: it arms the attribute

    def remaining(self) -> int:
        return int(read(self.attr / "times", "-1"))

    def injected(self) -> int:
        """How many of the armed corruptions blkback has used; disarms."""
        left = self.remaining()
        self._set("times", 0)
        self._set("probability", 0)
        return self.armed - left if left >= 0 else -1
