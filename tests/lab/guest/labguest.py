"""What a lab scenario can do in dom0: disks, domUs, checks and results.

A scenario's dom0.py builds a :class:`Scenario`, records facts and checks,
and calls :meth:`Scenario.save`.  Everything that waits has a bound.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LAB = Path(os.environ.get("LAB_DIR", "/lab"))
OUT = Path(os.environ.get("LAB_OUT", "/run/lab-out"))
XL = "/usr/lib/xen-4.17/bin/xl"
CONSOLE_LOGS = Path("/var/log/xen/console")
KERNEL_PROBLEM = re.compile(r"\b(BUG:|WARNING:|Oops|general protection fault|Call Trace:|kernel BUG)")


def job() -> dict[str, Any]:
    """The job description the host wrote (series, abi, srcversions...)."""
    return json.loads((LAB / "job.json").read_text())


def sh(*argv: str, timeout: float = 60, check: bool = True,
       input_: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command with a time bound; its output is captured."""
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=input_)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {proc.returncode}: {proc.stderr.strip()}")
    return proc


def wait_until(predicate, timeout: float, interval: float = 0.2) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def read(path: str | Path, default: str = "") -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return default


def kernel_log_problems(text: str) -> list[str]:
    """Lines of a kernel log that show a BUG, WARNING or Oops."""
    return [line for line in text.splitlines() if KERNEL_PROBLEM.search(line)]


class Scenario:
    """Facts and checks of one scenario, saved as result.json."""

    def __init__(self) -> None:
        self.facts: dict[str, Any] = {}
        self.checks: list[dict[str, Any]] = []
        self.started = time.monotonic()

    def fact(self, name: str, value: Any) -> Any:
        self.facts[name] = value
        print(f"lab: fact {name} = {value!r}", flush=True)
        return value

    def check(self, name: str, ok: bool, **details: Any) -> bool:
        self.checks.append({"name": name, "ok": bool(ok), **details})
        print(f"lab: {'PASS' if ok else 'FAIL'} {name} {details if details else ''}", flush=True)
        return bool(ok)

    def save(self) -> None:
        self.facts.setdefault("scenario_seconds", round(time.monotonic() - self.started, 1))
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "result.json").write_text(json.dumps(
            {"facts": self.facts, "checks": self.checks}, indent=2, sort_keys=True))


# -- modules -----------------------------------------------------------------

def module_srcversion(name: str) -> str:
    return read(f"/sys/module/{name.replace('-', '_')}/srcversion")


def module_taint(name: str) -> str:
    return read(f"/sys/module/{name.replace('-', '_')}/taint")


def load_backend(flavour: str) -> None:
    """Replace the loaded xen-blkback with one of the job's builds."""
    if Path("/sys/module/xen_blkback").exists():
        sh("rmmod", "xen_blkback")
    sh("insmod", str(LAB / "modules" / flavour / "xen-blkback.ko"))


# -- disks -------------------------------------------------------------------

def scsi_debug(**params: Any) -> str:
    """Load scsi_debug with ``params`` and return its disk's /dev path."""
    if Path("/sys/module/scsi_debug").exists():
        sh("rmmod", "scsi_debug")
    sh("modprobe", "sd_mod")
    sh("modprobe", "scsi_debug", *(f"{k}={v}" for k, v in params.items()))
    found: list[str] = []

    def disk() -> bool:
        for blk in Path("/sys/block").glob("sd*"):
            if read(blk / "device" / "model") == "scsi_debug" and Path("/dev", blk.name).exists():
                found.append(f"/dev/{blk.name}")
                return True
        return False

    if not wait_until(disk, 30):
        raise RuntimeError("scsi_debug's disk did not appear within 30s")
    return found[0]


def remove_scsi_debug() -> None:
    if Path("/sys/module/scsi_debug").exists():
        sh("rmmod", "scsi_debug", check=False)


def scsi_debug_inject(opts: int, every_nth: int) -> None:
    """Set scsi_debug's error injection at run time: ``opts`` 0x20
    (SDEBUG_OPT_DIF_ERR) with ``every_nth`` 1 makes every READ or WRITE
    that follows fail with ABORTED COMMAND, "logical block guard check
    failed" (asc 0x10/1), the disk's own PI error.  ``(0, 0)`` stops it."""
    base = Path("/sys/bus/pseudo/drivers/scsi_debug")
    # every_nth first when arming, opts first when disarming: never a
    # window in which a stale setting injects.
    if opts:
        (base / "every_nth").write_text(f"{every_nth}\n")
        (base / "opts").write_text(f"{opts:#x}\n")
    else:
        (base / "opts").write_text("0\n")
        (base / "every_nth").write_text(f"{every_nth}\n")


def nvme(serial: str, timeout: float = 60) -> str:
    """The /dev path of the NVMe namespace whose controller has
    ``serial`` (QEMU's ``-device nvme,serial=...``; see the scenario's
    ``nvme`` key).  Loads the nvme driver first if it is not loaded."""
    if not Path("/sys/module/nvme").exists():
        sh("modprobe", "nvme", timeout=60)
    found: list[str] = []

    def disk() -> bool:
        for blk in sorted(Path("/sys/block").glob("nvme*n*")):
            if (read(blk / "device" / "serial") == serial
                    and Path("/dev", blk.name).exists() and int(read(blk / "size", "0") or 0) > 0):
                found.append(f"/dev/{blk.name}")
                return True
        return False

    if not wait_until(disk, timeout, interval=0.5):
        seen = {b.name: read(b / "device" / "serial") for b in Path("/sys/block").glob("nvme*")}
        raise RuntimeError(f"no NVMe namespace with serial {serial!r} within {timeout:.0f}s "
                           f"(seen: {seen})")
    return found[0]


QUEUE_LIMITS = ("max_integrity_segments", "max_sectors_kb", "max_hw_sectors_kb", "max_segments",
                "max_segment_size", "logical_block_size", "physical_block_size")


def queue_limits(dev: str) -> dict[str, int | str]:
    """A disk's request queue limits that matter to PI (from sysfs; a
    partition reports its disk's)."""
    name = Path(os.path.realpath(dev)).name
    block = Path("/sys/class/block") / name
    if (block / "partition").exists():
        block = block.resolve().parent
    out: dict[str, int | str] = {}
    for f in QUEUE_LIMITS:
        v = read(block / "queue" / f, "none")
        out[f] = int(v) if v.isdigit() else v
    return out


def partition(dev: str, start_mib: int, size_mib: int) -> str:
    """Give ``dev`` an MBR with one partition at [start_mib, +size_mib)
    (sfdisk), and return the partition's /dev path."""
    # Sizes in bytes: sfdisk counts sectors in the disk's logical block size.
    sh("sfdisk", "--no-reread", "--no-tell-kernel", "-q", "-w", "always", "-W", "always", dev,
       input_=f"label: dos\nstart={start_mib}MiB, size={size_mib}MiB, type=83\n")
    sh("blockdev", "--rereadpt", dev)
    name = Path(dev).name
    part = f"/dev/{name}p1" if name[-1].isdigit() else f"{dev}1"
    if not wait_until(lambda: Path(part).exists(), 20):
        raise RuntimeError(f"{part} did not appear after re-reading {dev}'s partition table")
    return part


def partition_start_sectors(part: str) -> int:
    """Where a partition starts on its disk, in 512-byte sectors."""
    return int(read(Path("/sys/class/block") / Path(part).name / "start", "-1"))


def dm_linear(name: str, dev: str, offset_mib: int, size_mib: int) -> str:
    """A device-mapper linear volume over [offset_mib, +size_mib) of
    ``dev`` (dmsetup); return its /dev/dm-N path."""
    table = f"0 {size_mib * 2048} linear {dev} {offset_mib * 2048}"
    sh("dmsetup", "create", name, "--noudevsync", "--table", table, timeout=60)
    found: list[str] = []

    def node() -> bool:
        for d in Path("/sys/block").glob("dm-*"):
            if read(d / "dm" / "name") == name and Path("/dev", d.name).exists():
                found.append(f"/dev/{d.name}")
                return True
        return False

    if not wait_until(node, 20):
        raise RuntimeError(f"device-mapper volume {name} has no /dev/dm-N node")
    return found[0]


def dm_remove(name: str) -> None:
    sh("dmsetup", "remove", "--noudevsync", name, check=False, timeout=60)


def integrity(dev: str) -> dict[str, str]:
    """A block device's integrity profile as sysfs shows it (a
    partition's is its disk's)."""
    block = Path("/sys/class/block") / Path(os.path.realpath(dev)).name
    if (block / "partition").exists():
        block = block.resolve().parent
    base = block / "integrity"
    return {f: read(base / f, "none") for f in
            ("format", "protection_interval_bytes", "tag_size", "device_is_integrity_capable")}


# -- domUs -------------------------------------------------------------------

@dataclass
class DomuRun:
    """What one domU did: its records, its log and whether it finished."""

    name: str
    records: list[dict[str, Any]] = field(default_factory=list)
    script_log: list[str] = field(default_factory=list)
    dmesg: list[str] = field(default_factory=list)
    exit_status: int | None = None
    timed_out: bool = False
    create_error: str = ""
    seconds: float = 0.0

    @property
    def finished(self) -> bool:
        return self.exit_status is not None and not self.timed_out and not self.create_error

    def record(self, name: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("record") == name]

    def kernel_problems(self) -> list[str]:
        return kernel_log_problems("\n".join(self.dmesg))


def domain_exists(name: str) -> bool:
    return sh(XL, "domid", name, check=False, timeout=20).returncode == 0


def parse_console(text: str, run: DomuRun) -> None:
    """Pick the tagged lines out of a domU's console log."""
    for raw in text.splitlines():
        line = raw.rstrip("\r")
        for tag, sink in (("@@LAB@@ ", None), ("@@LOG@@ ", run.script_log),
                          ("@@DMESG@@ ", run.dmesg)):
            i = line.find(tag)
            if i < 0:
                continue
            payload = line[i + len(tag):]
            if sink is not None:
                sink.append(payload)
            else:
                try:
                    run.records.append(json.loads(payload))
                except json.JSONDecodeError:
                    run.script_log.append("unparsable record: " + payload)
        i = line.find("@@LAB-END@@ ")
        if i >= 0:
            try:
                run.exit_status = int(line[i + 12:].split()[0])
            except (ValueError, IndexError):
                run.exit_status = -1


def front_params_arg(params: dict[str, Any] | None) -> str:
    """The domU kernel argument that hands xen-blkfront its module
    parameters (domu-init passes them to insmod): ``lab.frontparams=a=1,b=2``."""
    if not params:
        return ""
    for k, v in params.items():
        if not re.fullmatch(r"[A-Za-z0-9_]+", k) or not re.fullmatch(r"[A-Za-z0-9_]+", str(v)):
            raise ValueError(f"unsafe blkfront parameter {k}={v}")
    return " lab.frontparams=" + ",".join(f"{k}={v}" for k, v in params.items())


def domu_config(name: str, disks: list[str], script: str, frontend: str, memory: int,
                front_params: dict[str, Any] | None = None) -> Path:
    cfg = Path("/run") / f"{name}.cfg"
    disk_list = ", ".join(json.dumps(d) for d in disks)
    cfg.write_text(
        f'name = "{name}"\ntype = "pv"\n'
        f'kernel = "{LAB}/domu/vmlinuz"\nramdisk = "{LAB}/domu/initrd.gz"\n'
        f'extra = "console=hvc0 loglevel=4 lab.script={script} lab.front={frontend}'
        f'{front_params_arg(front_params)}"\n'
        f"memory = {memory}\nvcpus = 1\nvif = []\ndisk = [ {disk_list} ]\n"
        'on_poweroff = "destroy"\non_reboot = "destroy"\non_crash = "destroy"\n')
    return cfg


class Domu:
    """A running lab domU.  ``start`` creates it; ``wait_record`` follows
    its console while it runs; ``finish`` waits (bounded) until it powers
    off and returns what it did."""

    def __init__(self, name: str, disks: list[str], script: str, frontend: str = "patched",
                 memory: int = 256, front_params: dict[str, Any] | None = None) -> None:
        self.run = DomuRun(name)
        self.name = name
        self.log = CONSOLE_LOGS / f"guest-{name}.log"
        self.cfg = domu_config(name, disks, script, frontend, memory, front_params)
        self.started = 0.0

    def start(self, paused: bool = False) -> bool:
        """Create the domU; ``paused`` leaves it paused (its frontends not
        yet connected) until :meth:`unpause`."""
        self.log.unlink(missing_ok=True)
        self.started = time.monotonic()
        created = sh(XL, "create", *(["-p"] if paused else []), str(self.cfg),
                     check=False, timeout=120)
        if created.returncode != 0:
            self.run.create_error = (created.stderr or created.stdout).strip()[-2000:]
            return False
        return True

    def unpause(self) -> None:
        sh(XL, "unpause", self.name)

    @property
    def domid(self) -> int:
        return int(sh(XL, "domid", self.name, timeout=20).stdout.strip())

    def backend(self, devid: int = 51728) -> str:
        """The xenstore directory of this domU's vbd backend."""
        return f"/local/domain/0/backend/vbd/{self.domid}/{devid}"

    def frontend(self, devid: int = 51728) -> str:
        return f"/local/domain/{self.domid}/device/vbd/{devid}"

    def records_so_far(self) -> list[dict[str, Any]]:
        partial = DomuRun(self.name)
        parse_console(read(self.log), partial)
        return partial.records

    def wait_record(self, name: str, timeout: float = 120, **match: Any) -> dict[str, Any] | None:
        """Wait until the domU has emitted a record called ``name`` whose
        fields include ``match``; None if it never does (or it died)."""
        found: list[dict[str, Any]] = []

        def wanted(r: dict[str, Any]) -> bool:
            return r.get("record") == name and all(r.get(k) == v for k, v in match.items())

        def seen() -> bool:
            found[:] = [r for r in self.records_so_far() if wanted(r)]
            return bool(found) or not domain_exists(self.name)

        wait_until(seen, timeout, interval=0.5)
        return found[0] if found else None

    def finish(self, timeout: float = 240) -> DomuRun:
        """Wait, at most ``timeout`` seconds from now, until the domU has
        powered off (else destroy it), and collect what it printed."""
        run = self.run
        if run.create_error:
            return run
        if not wait_until(lambda: not domain_exists(self.name), timeout, interval=0.5):
            run.timed_out = True
            sh(XL, "destroy", self.name, check=False, timeout=60)
        run.seconds = round(time.monotonic() - self.started, 1)
        time.sleep(0.5)  # let xenconsoled drain the last lines
        text = read(self.log)
        (OUT / f"domu-{self.name}-console.log").write_text(text)
        parse_console(text, run)
        return run


def run_domu(name: str, disks: list[str], script: str, frontend: str = "patched",
             memory: int = 256, timeout: float = 240,
             front_params: dict[str, Any] | None = None) -> DomuRun:
    """Create a PV domU that runs ``script`` against ``disks`` and wait,
    bounded, until it powers off.  A domU that does not finish in time is
    destroyed and reported as timed out."""
    domu = Domu(name, disks, script, frontend, memory, front_params)
    domu.start()
    return domu.finish(timeout)


# -- the mailbox: a plain disk through which dom0 tells a domU to go on -------

MAILBOX_SECTOR = 512


def mailbox() -> str:
    """A small RAM disk without integrity, for ``signal``; give it to the
    domU as its last disk (the domU's lablib.sh ``mailbox_wait`` reads it)."""
    if not Path("/dev/ram0").exists():
        sh("modprobe", "brd", "rd_nr=1", "rd_size=1024")
        wait_until(lambda: Path("/dev/ram0").exists(), 10)
    signal("/dev/ram0", "")
    return "/dev/ram0"


def signal(dev: str, token: str) -> None:
    """Write ``token`` to the mailbox disk's first sector."""
    data = token.encode().ljust(MAILBOX_SECTOR, b"\0")
    fd = os.open(dev, os.O_WRONLY)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    sh("blockdev", "--flushbufs", dev, check=False)


def xs_read(path: str) -> str | None:
    """A xenstore node's value, or None when it does not exist."""
    proc = sh("xenstore-read", path, check=False, timeout=20)
    return proc.stdout.strip() if proc.returncode == 0 else None


def xs_write(path: str, value: str) -> None:
    sh("xenstore-write", path, value, timeout=20)


def blkback_stats(domid: int, devid: int = 51728) -> dict[str, int]:
    """blkback's per-vbd statistics (rd_req, wr_req, dix_req, dix_err...)."""
    base = Path(f"/sys/bus/xen-backend/devices/vbd-{domid}-{devid}/statistics")
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


def blkback_knob(name: str, value: int | None = None) -> int:
    """Read, or set then read, one of blkback's debugfs test knobs."""
    if not (DEBUGFS / "xen-blkback").exists():
        sh("mount", "-t", "debugfs", "debugfs", str(DEBUGFS), check=False)
    knob = DEBUGFS / "xen-blkback" / name
    if value is not None:
        knob.write_text(f"{value}\n")
    return int(read(knob, "-1"))


def only_dom0_left(timeout: float = 30) -> bool:
    """True once no domU, not even a dying one, is left.  A domain whose
    grants dom0 still maps cannot die and stays as a zombie."""
    def alone() -> bool:
        lines = sh(XL, "list", check=False, timeout=20).stdout.strip().splitlines()
        return len(lines) == 2  # the header and Domain-0
    return wait_until(alone, timeout, interval=0.5)


def backend_vbds() -> list[str]:
    """The vbd backend devices that exist in dom0 right now."""
    return sorted(p.name for p in Path("/sys/bus/xen-backend/devices").glob("vbd-*"))


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
