"""dom0's disks for a scenario: scsi_debug and NVMe with PI, partitions,
device-mapper volumes, their integrity profiles, and the mailbox."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from .base import read, sh, wait_until


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


def dm_retarget(name: str, dev: str, offset_mib: int, size_mib: int, delay_ms: int = 0) -> None:
    """Move a device-mapper volume onto [offset_mib, +size_mib) of ``dev``
    while it stays open (dmsetup reload, then resume: dm suspends the
    volume, swaps the table and resumes it): a linear table, or with
    ``delay_ms`` a dm-delay one that holds every I/O that long.  The
    volume takes the integrity profile of its new disk, or none."""
    if delay_ms:
        sh("modprobe", "dm-delay", timeout=60)
        table = f"0 {size_mib * 2048} delay {dev} {offset_mib * 2048} {delay_ms}"
    else:
        table = f"0 {size_mib * 2048} linear {dev} {offset_mib * 2048}"
    sh("dmsetup", "reload", name, "--table", table, timeout=60)
    sh("dmsetup", "resume", name, "--noudevsync", timeout=60)


def plain_disk(size_mib: int, name: str = "plain") -> str:
    """A loop device over a file in /run: a disk without integrity."""
    sh("modprobe", "loop", check=False)
    image = Path("/run") / f"{name}.img"
    with open(image, "wb") as f:
        f.truncate(size_mib * 1048576)
    return sh("losetup", "--find", "--show", str(image), timeout=30).stdout.strip()


def remove_plain_disk(dev: str) -> None:
    sh("losetup", "--detach", dev, check=False, timeout=30)


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


def _cdb10(opcode: int, lba: int, blocks: int) -> list[str]:
    """A READ(10)/WRITE(10) CDB, RDPROTECT/WRPROTECT 0 (no PI), as sg_raw's hex bytes."""
    return [f"{b:02x}" for b in (opcode, 0, *lba.to_bytes(4, "big"), 0, *blocks.to_bytes(2, "big"), 0)]


def rot_without_pi(dev: str, offset: int, data: bytes) -> dict:
    """Rewrite ``data`` at byte ``offset`` of a SCSI DIX disk with a WRITE(10)
    without PI (sg_raw, SG_IO), then read it back the same way (a READ
    without PI, which the disk does not check): the disk holds the new
    bytes and still the old PI, so a read with PI fails.  A normal write
    from dom0 would not do: dom0's block layer would compute fresh PI."""
    lbs = int(read(f"/sys/block/{Path(dev).name}/queue/logical_block_size"))
    lba, blocks = offset // lbs, len(data) // lbs
    Path("/run/rot.bin").write_bytes(data)
    back_file = Path("/run/rot-back.bin")
    back_file.unlink(missing_ok=True)
    w = sh("sg_raw", "-s", str(len(data)), "-i", "/run/rot.bin", dev, *_cdb10(0x2A, lba, blocks),
           check=False, timeout=60)
    r = sh("sg_raw", "-r", str(len(data)), "-o", str(back_file), dev, *_cdb10(0x28, lba, blocks),
           check=False, timeout=60)
    back = back_file.read_bytes() if back_file.exists() else b""
    return {"tool": "sg_raw (SG_IO, WRITE(10) with WRPROTECT=0)", "lba": lba, "blocks": blocks,
            "write_rc": w.returncode, "write_err": w.stderr.strip()[-300:], "read_rc": r.returncode,
            "disk_holds_rot": back == data}
