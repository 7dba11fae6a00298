"""dom0 block devices and their integrity profiles (pyudev + sysfs)."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

T10_FORMATS = ("T10-DIF-TYPE1-CRC", "T10-DIF-TYPE1-IP", "T10-DIF-TYPE3-CRC", "T10-DIF-TYPE3-IP")


@dataclass(frozen=True)
class Integrity:
    """A disk's integrity profile as /sys/block/X/integrity/ shows it."""

    format: str = "none"
    interval: int | None = None
    tag_size: int | None = None
    capable: bool = False

    @property
    def known(self) -> bool:
        """A T10 profile that blkback can pass through."""
        return self.format in T10_FORMATS

    def as_dict(self) -> dict:
        return {**asdict(self), "known": self.known}


@dataclass(frozen=True)
class BlockDevice:
    """A dom0 block device; ``disk`` is the whole disk a partition is on."""

    name: str
    devnum: str  # "major:minor", decimal
    sys_path: Path
    disk: str
    size_bytes: int
    integrity: Integrity


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def read_integrity(disk_path: Path) -> Integrity:
    """The profile in ``<disk sysfs dir>/integrity``; "none" when absent."""
    base = disk_path / "integrity"
    fmt = _read(base / "format") or "none"
    return Integrity(fmt, _int(_read(base / "protection_interval_bytes")),
                     _int(_read(base / "tag_size")),
                     _read(base / "device_is_integrity_capable") == "1")


def device_at(sys_path: Path) -> BlockDevice:
    """The block device whose sysfs directory is ``sys_path`` (disk or partition)."""
    sys_path = Path(sys_path)
    disk_path = sys_path.parent if (sys_path / "partition").exists() else sys_path
    return BlockDevice(sys_path.name, _read(sys_path / "dev") or "?", sys_path, disk_path.name,
                       (_int(_read(sys_path / "size")) or 0) * 512, read_integrity(disk_path))


def parse_physical_device(value: str) -> tuple[int, int] | None:
    """blkback's ``physical-device`` node: "major:minor" in hex (e.g. "8:10" is 8:16)."""
    try:
        major, minor = value.split(":")
        return int(major, 16), int(minor, 16)
    except (ValueError, AttributeError):
        return None


class DiskSource(Protocol):
    """Where block devices come from: pyudev in dom0, a sysfs tree in tests."""

    def disks(self) -> list[BlockDevice]: ...
    def by_devnum(self, major: int, minor: int) -> BlockDevice | None: ...
    def by_path(self, path: str) -> BlockDevice | None: ...


class SysfsSource:
    """Block devices read straight from a sysfs tree (``root``/block, ``root``/dev/block)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def disks(self) -> list[BlockDevice]:
        return [device_at(p.resolve()) for p in sorted((self.root / "block").glob("*"))]

    def by_devnum(self, major: int, minor: int) -> BlockDevice | None:
        link = self.root / "dev" / "block" / f"{major}:{minor}"
        return device_at(link.resolve()) if link.exists() else None

    def by_path(self, path: str) -> BlockDevice | None:
        try:
            rdev = os.stat(path).st_rdev
            if rdev:
                found = self.by_devnum(os.major(rdev), os.minor(rdev))
                if found:
                    return found
        except (OSError, ValueError):  # ValueError: a NUL in the path
            pass
        name = Path(path).name
        for base in (self.root / "class" / "block", self.root / "block"):
            if (base / name).exists():
                return device_at((base / name).resolve())
        return None


class PyudevSource(SysfsSource):
    """Block devices as udev knows them (pyudev); attributes from their sysfs dirs."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        import pyudev

        self.pyudev = pyudev
        self.context = pyudev.Context()

    def disks(self) -> list[BlockDevice]:
        found = self.context.list_devices(subsystem="block", DEVTYPE="disk")
        return sorted((device_at(Path(d.sys_path)) for d in found), key=lambda d: d.name)

    def by_devnum(self, major: int, minor: int) -> BlockDevice | None:
        try:
            dev = self.pyudev.Devices.from_device_number(self.context, "block", os.makedev(major, minor))
        except Exception:  # pyudev raises its own DeviceNotFound* family
            return None
        return device_at(Path(dev.sys_path))


def default_source(sysfs: Path) -> DiskSource:
    """pyudev when libudev loads and sysfs is the real one, else plain sysfs."""
    if Path(sysfs) == Path("/sys"):
        try:
            return PyudevSource(sysfs)
        except Exception:  # no libudev: fall back to sysfs
            pass
    return SysfsSource(sysfs)
