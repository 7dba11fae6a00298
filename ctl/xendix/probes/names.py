"""Names for what the tracepoints give as numbers: domid, handle (devid)
and dev_t.

In dom0 the domain is its xenstore name (guest-written: escaped,
:func:`xendix.untrusted.show`), the vdev comes from the devid
(:mod:`xendix.vdev`) and the backing device from its dev_t through sysfs
(``/sys/dev/block/MAJ:MIN``, the Host's disk source).  In a guest
(``--guest``) the domain is the backend's domid, and the disk is the xvd
disk itself.  Names are cached until :meth:`Names.refresh`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .. import domains, vdev as vdevs
from ..devices import BlockDevice, device_at
from ..digits import decimal
from ..host import Host
from ..untrusted import show
from ..vbd import VbdRef, backing_device
from .bpf import disk_name_ok

MINORBITS = 20  # the kernel's dev_t: major << 20 | minor
T10_TUPLE = 8  # every T10-DIF profile's tuple size (the only ones blkif carries)


def major_minor(dev: int) -> tuple[int, int]:
    return dev >> MINORBITS, dev & ((1 << MINORBITS) - 1)


def devnum(dev: int) -> str:
    """A kernel dev_t as ``MAJ:MIN``."""
    return "%d:%d" % major_minor(dev)


@dataclass(frozen=True)
class VbdNames:
    domain: str
    vdev: str
    backing: str


@dataclass(frozen=True)
class Profile:
    """What a vbd's PI costs: ``tuple_size`` bytes per ``interval`` data bytes."""

    interval: int
    tuple_size: int

    def pi_bytes(self, sectors: int) -> int:
        return sectors * 512 // self.interval * self.tuple_size


class Names:
    """(domid, handle, dev) -> names, for dom0 or (``guest``) a PV domU."""

    def __init__(self, host: Host, guest: bool = False) -> None:
        self.host = host
        self.guest = guest
        self.sysfs = Path(host.sysfs)
        self._domains: dict[int, str] = {}
        self._disks: dict[int, BlockDevice | None] = {}
        self._profiles: dict[tuple[int, int, int], Profile | None] = {}
        self._backings: dict[tuple[int, int], str | None] = {}
        self.seen: dict[int, tuple[int, int]] = {}  # --guest: dev -> (backend domid, vdevice)

    def refresh(self) -> None:
        """Forget cached names (a domain renamed, a vbd re-attached)."""
        self._domains.clear()
        self._disks.clear()
        self._profiles.clear()
        self._backings.clear()

    def domain(self, domid: int) -> str:
        """The domain's name, escaped; in a guest the backend's domid."""
        if self.guest:
            return str(domid)
        if domid not in self._domains:
            self._domains[domid] = show(domains.name_of(self.host.store(), domid))
        return self._domains[domid]

    def disk(self, dev: int) -> BlockDevice | None:
        """The block device of a kernel dev_t (a partition included)."""
        if dev not in self._disks:
            try:
                self._disks[dev] = self.host.disks().by_devnum(*major_minor(dev)) if dev else None
            except OSError:
                self._disks[dev] = None
        return self._disks[dev]

    def backing(self, dev: int) -> str:
        found = self.disk(dev)
        return found.name if found else (devnum(dev) if dev else "-")

    def vbd(self, domid: int, handle: int, dev: int) -> VbdNames:
        if self.guest and dev:
            self.seen[dev] = (domid, handle)
        return VbdNames(self.domain(domid), vdevs.name_of(handle), self.backing(dev))

    def backing_of_vbd(self, domid: int, handle: int) -> str:
        """A vbd's backing device when the event has no dev_t (dixlat's
        histograms): blkback's physical-device, or the guest's xvd disk."""
        key = (domid, handle)
        if key not in self._backings:
            if self.guest:
                found = self._guest_disk(handle)
            else:
                bd = backing_device(self.host.store(), self.host.disks(),
                                    VbdRef(domid, handle).backend_path)
                found = bd.name if bd else None
            self._backings[key] = found
        return self._backings[key] or "-"

    def _guest_disk(self, handle: int) -> str | None:
        """The xvd disk of a vdevice: /sys/bus/xen/devices/vbd-N/block/<disk>."""
        base = self.sysfs / "bus" / "xen" / "devices" / f"vbd-{handle}" / "block"
        try:
            return next((p.name for p in sorted(base.iterdir()) if disk_name_ok(p.name)), None)
        except OSError:
            return None

    def profile(self, domid: int, handle: int, dev: int) -> Profile | None:
        """The vbd's PI profile: blkback's data-integrity-interval and
        -tuple-size nodes in dom0, the xvd disk's integrity in a guest."""
        key = (domid, handle, dev)
        if key not in self._profiles:
            self._profiles[key] = self._guest_profile(dev) if self.guest else \
                self._backend_profile(domid, handle)
        return self._profiles[key]

    def _backend_profile(self, domid: int, handle: int) -> Profile | None:
        store = self.host.store()
        be = VbdRef(domid, handle).backend_path
        interval = decimal(store.read(f"{be}/data-integrity-interval") or "")
        tuple_size = decimal(store.read(f"{be}/data-integrity-tuple-size") or "")
        if not interval or tuple_size is None or interval % 512:
            return None
        return Profile(interval, tuple_size)

    def _guest_profile(self, dev: int) -> Profile | None:
        found = self.disk(dev)
        if found is None or not found.integrity.known or not found.integrity.interval:
            return None
        return Profile(found.integrity.interval, T10_TUPLE)

    # -- --guest: a failed verify names its disk only ----------------------
    def disk_dev(self, name: str) -> int | None:
        """The kernel dev_t of a disk named by the kernel (``xvdb``)."""
        if not disk_name_ok(name):
            return None
        for base in (self.sysfs / "class" / "block", self.sysfs / "block"):
            if (base / name).exists():
                found = device_at((base / name).resolve())
                parts = found.devnum.split(":")
                if len(parts) == 2 and all(decimal(p) is not None for p in parts):
                    return (int(parts[0]) << MINORBITS) | int(parts[1])
        return None

    def guest_vbd(self, dev: int, name: str) -> tuple[int | None, int | None]:
        """(backend domid, vdevice) of a guest disk: from its events, else
        the vdevice from sysfs (…/block/<disk>/device -> vbd-N)."""
        if dev in self.seen:
            return self.seen[dev]
        handle = None
        if disk_name_ok(name):
            link = self.sysfs / "block" / name / "device"
            try:
                target = os.path.basename(os.readlink(link))
            except OSError:
                target = ""
            if target.startswith("vbd-"):
                handle = decimal(target[4:])
        return None, handle
