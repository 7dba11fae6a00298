"""Boot Xen, dom0 and its disks under QEMU (TCG), with a time bound."""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError, LabError, LabTimeout

# Xen prints on the emulated serial port; dom0 prints on Xen's console.
# -cpu max crashes a PV dom0 at boot under TCG; qemu64 does not.
XEN_ARGS = ("console=com1 com1=115200,8n1 dom0_mem=1024M,max:1024M dom0_max_vcpus=2 "
            "loglvl=all guest_loglvl=all")
DOM0_ARGS = "console=hvc0 earlyprintk=xen loglevel=5"
MEMORY_MIB = 2048


# Serial log lines after which the machine will never power off cleanly.
FATAL_MARKERS = ("Kernel panic - not syncing", "Hardware Dom0 crashed", "lab-initramfs: FATAL",
                 "Panic on CPU")
# A CPU stuck this long is a hung machine, not a slow one: TCG on a busy
# host delays a vCPU by seconds, never by minutes.
LOCKUP = re.compile(r"soft lockup - CPU#\d+ stuck for (\d+)s")
LOCKUP_FATAL_S = 120
# dom0-init prints this once our xen-blkback is loaded: a machine that
# failed before it failed in Debian's code or the emulator, not in ours.
BACKEND_LOADED = "lab-dom0: backend loaded"
# Serial log lines of a machine that powered off (dom0's poweroff, then Xen's).
POWEROFF_MARKERS = ("reboot: Power down", "Entering ACPI S5 state")


@dataclass(frozen=True)
class Drive:
    """A raw disk image on the emulated IDE bus, known to the guest by
    its model string."""

    path: Path
    model: str
    snapshot: bool = True


@dataclass(frozen=True)
class NvmeDisk:
    """An emulated NVMe controller with one namespace that stores 8 bytes
    of T10 PI per logical block in a separate metadata buffer (``mset=0``,
    the layout Linux's DIX path uses).  dom0 finds it by ``serial``
    (/sys/block/nvme*n1/device/serial); ``pi`` is the PI type (1, 2 or
    3), ``lbs`` the logical (and physical) block size; ``iops`` limits the
    commands a second (QEMU's throttling), so that requests queue up in
    the device as on a busy disk."""

    path: Path
    serial: str
    pi: int = 1
    lbs: int = 512
    iops: int = 0  # QEMU I/O throttling: commands a second (0: none)

    def __post_init__(self) -> None:
        if self.pi not in (0, 1, 2, 3):
            raise ConfigError(f"NVMe PI type must be 0 to 3, not {self.pi}")
        if self.lbs not in (512, 4096):
            raise ConfigError(f"NVMe logical block size must be 512 or 4096, not {self.lbs}")

    @staticmethod
    def image(path: Path, size_mib: int, lbs: int, ms: int = 8) -> Path:
        """A blank namespace image for QEMU's nvme-ns with ``ms`` bytes of
        separate metadata per block: QEMU lays it out as every block's data
        (``size_mib``, sparse) followed by every block's metadata.  The
        metadata is all 0xff, the PI escape (application tag 0xffff,
        reference tag 0xffffffff), which neither the device nor Linux
        checks: as on a freshly formatted disk, a block never written reads
        back without a PI error, and every block written gets real PI."""
        blocks = size_mib * 1024 * 1024 // lbs
        path.unlink(missing_ok=True)
        with open(path, "wb") as f:
            f.truncate(blocks * (lbs + ms))
            f.seek(blocks * lbs)
            chunk = b"\xff" * (1 << 20)
            left = blocks * ms
            while left:
                left -= f.write(chunk[:min(left, len(chunk))])
        return path

    def argv(self, index: int) -> list[str]:
        drive, ctrl = f"nvm{index}", f"nvme{index}"
        ns = f"nvme-ns,drive={drive},bus={ctrl},nsid=1,ms=8,mset=0,pi={self.pi},pil=0"
        if self.lbs != 512:
            ns += f",logical_block_size={self.lbs},physical_block_size={self.lbs}"
        throttle = f",throttling.iops-total={self.iops}" if self.iops else ""
        return ["-drive", f"file={self.path},if=none,id={drive},format=raw{throttle}",
                "-device", f"nvme,serial={self.serial},id={ctrl}",
                "-device", ns]


@dataclass
class Machine:
    xen: Path
    kernel: Path
    initrd: Path
    drives: list[Drive]
    serial_log: Path
    dom0_args: str = DOM0_ARGS
    xen_args: str = XEN_ARGS
    memory_mib: int = MEMORY_MIB
    cpus: int = 2
    nvme: list[NvmeDisk] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    def argv(self) -> list[str]:
        """The qemu-system-x86_64 command line."""
        if len(self.drives) > 4:
            raise ConfigError("the PIIX IDE buses take four disks")
        module = f"{self.kernel} {self.dom0_args}".replace(",", ",,")
        argv = [
            "qemu-system-x86_64", "-machine", "pc,accel=tcg", "-cpu", "qemu64",
            "-m", str(self.memory_mib), "-smp", str(self.cpus),
            "-nodefaults", "-display", "none", "-no-reboot", "-monitor", "none",
            "-serial", f"file:{self.serial_log}",
            "-kernel", str(self.xen), "-append", self.xen_args,
            "-initrd", f"{module},{self.initrd}",
        ]
        for i, d in enumerate(self.drives):
            snap = ",snapshot=on" if d.snapshot else ""
            argv += ["-drive", f"file={d.path},format=raw,if=none,id=d{i}{snap}",
                     "-device", f"ide-hd,drive=d{i},bus=ide.{i // 2},unit={i % 2},model={d.model}"]
        for i, n in enumerate(self.nvme):
            argv += n.argv(i)
        return argv + self.extra


def serial_tail(log: Path, lines: int = 60) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return "(no serial log)"
    return "\n".join(text.replace("\r", "").splitlines()[-lines:])


def version() -> str:
    """The emulator's version line ("QEMU emulator version 7.2.x ...")."""
    try:
        out = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True,
                             text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return out.splitlines()[0].strip() if out else "?"


def run(machine: Machine, timeout: float) -> float:
    """Boot the machine and wait until it powers off; return the seconds
    it ran.  Raises LabTimeout (with the serial log's tail) past
    ``timeout`` and LabError if QEMU fails."""
    machine.serial_log.unlink(missing_ok=True)
    start = time.monotonic()
    proc = subprocess.Popen(machine.argv(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    fatal = ""
    try:
        while proc.poll() is None:
            if time.monotonic() - start > timeout:
                raise LabTimeout(f"the lab machine did not power off within {timeout:.0f}s; "
                                 f"serial log ({machine.serial_log}) ends with:\n"
                                 + serial_tail(machine.serial_log))
            fatal = fatal_marker(machine.serial_log)
            if fatal:
                time.sleep(3)  # let the last lines of the report reach the log
                raise LabError(f"the lab machine crashed ({fatal}); serial log "
                               f"({machine.serial_log}) ends with:\n"
                               + serial_tail(machine.serial_log))
            time.sleep(0.5)
    finally:
        if proc.poll() is None:
            proc.kill()
        out = proc.communicate()[0]
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        raise LabError(f"qemu exited {proc.returncode}: {out.strip()[-2000:]}\n"
                       + serial_tail(machine.serial_log))
    if not powered_off(machine.serial_log):
        # -no-reboot: a reset (a triple fault, a crash that printed
        # nothing, a watchdog) also ends QEMU with status 0.
        raise LabError(f"the lab machine reset instead of powering off (dom0 or Xen died "
                       f"without a panic message) after {seconds:.0f}s; serial log "
                       f"({machine.serial_log}) ends with:\n" + serial_tail(machine.serial_log))
    return seconds


def powered_off(log: Path) -> bool:
    """Whether the serial log shows the machine powering off."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return False
    return any(m in text for m in POWEROFF_MARKERS)


def fatal_marker(log: Path) -> str:
    """The first fatal marker in the serial log, or ''."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return ""
    for marker in FATAL_MARKERS:
        if marker in text:
            return marker
    for stuck in LOCKUP.finditer(text):
        if int(stuck.group(1)) >= LOCKUP_FATAL_S:
            return stuck.group(0)
    return ""


def reached_our_code(log: Path) -> bool:
    """Whether dom0 got as far as loading our xen-blkback."""
    try:
        return BACKEND_LOADED in log.read_text(errors="replace")
    except OSError:
        return False
