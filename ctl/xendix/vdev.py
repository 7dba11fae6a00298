"""Xen virtual disk names and device ids (docs/misc/vbd-interface.txt in Xen).

``xvdb`` is devid 51728 = (202 << 8) | (1 << 4); disks past xvdp and
partitions past 15 use the extended scheme (1 << 28) | (disk << 8) | part.
``hd*`` and ``sd*`` names map to the Linux IDE and SCSI majors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .digits import decimal, looks_numeric

XVD_MAJOR = 202
EXTENDED = 1 << 28
IDE_MAJORS = (3, 22, 33, 34, 56, 57, 88, 89, 90, 91)  # two disks each
SCSI_MAJORS = (8, 65, 66, 67, 68, 69, 70, 71, 128, 129, 130, 131, 132, 133, 134, 135)  # 16 each
_NAME = re.compile(r"(xvd|hd|sd)([a-z]+)([0-9]*)")  # ASCII digits: \d takes ４ too
_DISKPART = re.compile(r"d([0-9]+)(?:p([0-9]+))?")


class VdevError(ValueError):
    """A name or number that is not a valid virtual disk."""


@dataclass(frozen=True)
class Vdev:
    """A virtual disk: ``prefix`` xvd/hd/sd, ``disk`` from 0, ``part`` (0 = whole disk)."""

    prefix: str
    disk: int
    part: int = 0

    @property
    def name(self) -> str:
        return f"{self.prefix}{disk_letters(self.disk)}{self.part or ''}"

    @property
    def devid(self) -> int:
        return encode(self)


def disk_letters(disk: int) -> str:
    """0 -> a, 25 -> z, 26 -> aa (bijective base 26)."""
    if disk < 0:
        raise VdevError(f"negative disk number {disk}")
    out = ""
    n = disk + 1
    while n:
        n, r = divmod(n - 1, 26)
        out = chr(ord("a") + r) + out
    return out


def letters_disk(letters: str) -> int:
    """a -> 0, z -> 25, aa -> 26."""
    n = 0
    for ch in letters:
        n = n * 26 + (ord(ch) - ord("a") + 1)
    return n - 1


def parse(name: str) -> Vdev:
    """``xvdb``, ``xvdaa1``, ``hdc``, ``sdq2`` or ``d1p2`` (xvd numbering) -> Vdev."""
    m = _DISKPART.fullmatch(name)
    if m:
        vd = Vdev("xvd", int(m[1]), int(m[2] or 0))
    else:
        m = _NAME.fullmatch(name)
        if not m:
            raise VdevError(f"not a virtual disk name: {name!r}")
        vd = Vdev(m[1], letters_disk(m[2]), int(m[3]) if m[3] else 0)
        if m[3] and (m[3].startswith("0") or vd.part == 0):
            raise VdevError(f"bad partition number in {name!r}")
    encode(vd)  # range checks
    return vd


def encode(vd: Vdev) -> int:
    """The devid xenstore uses for ``vd``."""
    if vd.prefix == "xvd":
        if vd.disk < 16 and vd.part < 16:
            return (XVD_MAJOR << 8) | (vd.disk << 4) | vd.part
        if vd.disk < (1 << 20) and vd.part < 256:
            return EXTENDED | (vd.disk << 8) | vd.part
        raise VdevError(f"xvd disk {vd.disk} partition {vd.part} out of range")
    if vd.prefix == "hd":
        if vd.disk < 2 * len(IDE_MAJORS) and vd.part < 64:
            return (IDE_MAJORS[vd.disk // 2] << 8) | ((vd.disk % 2) << 6) | vd.part
        raise VdevError(f"hd disk {vd.disk} partition {vd.part} out of range")
    if vd.prefix == "sd":
        if vd.disk < 16 * len(SCSI_MAJORS) and vd.part < 16:
            return (SCSI_MAJORS[vd.disk // 16] << 8) | ((vd.disk % 16) << 4) | vd.part
        raise VdevError(f"sd disk {vd.disk} partition {vd.part} out of range")
    raise VdevError(f"unknown prefix {vd.prefix!r}")


def decode(devid: int) -> Vdev:
    """The virtual disk a xenstore devid stands for."""
    if devid < 0:
        raise VdevError(f"negative devid {devid}")
    if devid & EXTENDED:
        if devid >> 29:
            raise VdevError(f"devid {devid} out of range")
        return Vdev("xvd", (devid >> 8) & 0xFFFFF, devid & 0xFF)
    major, minor = devid >> 8, devid & 0xFF
    if major == XVD_MAJOR:
        return Vdev("xvd", minor >> 4, minor & 0xF)
    if major in IDE_MAJORS:
        return Vdev("hd", IDE_MAJORS.index(major) * 2 + (minor >> 6), minor & 0x3F)
    if major in SCSI_MAJORS:
        return Vdev("sd", SCSI_MAJORS.index(major) * 16 + (minor >> 4), minor & 0xF)
    raise VdevError(f"devid {devid} is no virtual disk")


def to_devid(spec: str) -> int:
    """A vdev name or a devid in ASCII digits -> devid."""
    if looks_numeric(spec):
        devid = decimal(spec)
        if devid is None:
            raise VdevError(f"devid {spec!r} is not in ASCII digits")
        decode(devid)
        return devid
    return parse(spec).devid


def name_of(devid: int) -> str:
    """The vdev name of ``devid``, or the number itself when it is none."""
    try:
        return decode(devid).name
    except VdevError:
        return str(devid)
