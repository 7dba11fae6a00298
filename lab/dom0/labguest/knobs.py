"""dom0's kernel side: which modules run, blkback's counters and its
test hooks, and what the disks themselves reported."""

from __future__ import annotations

import re
import time
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


BLKIF32_TEST = "blkif32_test"
BLKIF32_LINE = re.compile(r"\bblkif32_test: (.*)$")
BLKIF32_CASE = re.compile(r"case (\S+): (.*)")
SYS_MODULE = Path("/sys/module")
KMSG = Path("/dev/kmsg")


def blkif32_test_log(text: str) -> tuple[dict[str, str], str]:
    """blkif32_test's lines in a kernel log: each case's verdict by name
    ("ok", or "FAIL field slotS.FIELD: got 0xG want 0xW"), and its last
    other line: "N cases, M failed", or why it refused to run."""
    cases: dict[str, str] = {}
    summary = ""
    for line in text.splitlines():
        m = BLKIF32_LINE.search(line)
        if not m:
            continue
        msg = m.group(1).strip()
        case = BLKIF32_CASE.fullmatch(msg)
        if case:
            cases[case.group(1)] = case.group(2)
        else:
            summary = msg
    return cases, summary


def run_blkif32_test(mutate: str = "") -> dict:
    """Load the job's blkif32_test.ko (lab/dom0/blkif32-test), which runs
    blkback's translation of x86_32 (and x86_64) ring requests, DIX pairs
    included, on each of its cases at load and fails the load unless every
    case passed; ``mutate`` names a case whose expected request it gets
    wrong on purpose (its load must fail, naming the field).  Unloads it
    again.  Returns {"loaded", "rc" (insmod's), "cases": {name: "ok" or
    "FAIL ..."}, "summary": "N cases, M failed", "stderr" (insmod's)}."""
    if (SYS_MODULE / BLKIF32_TEST).exists():
        sh("rmmod", BLKIF32_TEST, timeout=30, check=False)
    # This load's lines are the ones after the mark.
    mark = f"labguest: run {BLKIF32_TEST} {time.monotonic_ns()}"
    try:
        KMSG.write_text(mark + "\n")
    except OSError:
        mark = ""
    argv = ["insmod", str(LAB / "modules" / "blkif32-test.ko")]
    if mutate:
        argv.append(f"mutate={mutate}")
    proc = sh(*argv, timeout=60, check=False)
    loaded = (SYS_MODULE / BLKIF32_TEST).exists()
    if loaded:
        sh("rmmod", BLKIF32_TEST, timeout=30, check=False)
    log = sh("dmesg", timeout=20).stdout
    if mark and mark in log:
        log = log[log.rindex(mark) + len(mark):]
    cases, summary = blkif32_test_log(log)
    return {"loaded": loaded, "rc": proc.returncode, "cases": cases, "summary": summary,
            "stderr": proc.stderr.strip()}
