"""What ``status`` and ``devices`` show: guest disks picked by DOMAIN/VDEV
(whatever backend serves them), dom0 disks with their users."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import domains, vdev as vdevs
from .devices import BlockDevice
from .errors import UnknownVdev
from .host import Host
from .vbd import Vbd, VbdRef, gather, locate


def select(host: Host, domain: str | None = None, vdev: str | None = None) -> list[VbdRef]:
    """Every guest disk, one domain's, or one (with every backend that serves it)."""
    store = host.store()
    if domain is None:
        return locate(store)
    refs = locate(store, domains.resolve(store, domain))
    if vdev is None:
        return refs
    try:
        devid = vdevs.to_devid(vdev)
    except vdevs.VdevError as e:
        raise UnknownVdev(f"unknown vdev {vdev!r}: {e}") from None
    picked = [r for r in refs if r.devid == devid]
    if not picked:
        raise UnknownVdev(f"domain {domain!r} has no vdev {vdev!r}")
    return picked


def status(host: Host, domain: str | None = None, vdev: str | None = None) -> list[Vbd]:
    """The model of each selected disk."""
    store = host.store()
    return [gather(store, host.disks(), host.sysfs, *ref) for ref in select(host, domain, vdev)]


@dataclass
class DeviceRow:
    """A dom0 disk and the vbds that it (or one of its partitions) backs."""

    device: BlockDevice
    used_by: list[str] = field(default_factory=list)


def devices(host: Host) -> list[DeviceRow]:
    """Every dom0 disk with its integrity profile and its vbd users."""
    rows = [DeviceRow(d) for d in host.disks().disks()]
    by_disk = {r.device.name: r for r in rows}
    for v in status(host):
        if v.backing is not None and v.backing.disk in by_disk:
            by_disk[v.backing.disk].used_by.append(f"{v.domain}:{v.vdev}")
    return rows
