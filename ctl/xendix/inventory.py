"""What ``status`` and ``devices`` show: vbds picked by DOMAIN/VDEV, disks with their users."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import domains, vdev as vdevs
from .devices import BlockDevice
from .errors import UnknownVdev
from .host import Host
from .vbd import Vbd, all_ids, gather


def select(host: Host, domain: str | None = None, vdev: str | None = None) -> list[tuple[int, int]]:
    """(domid, devid) of every vbd, of one domain's, or one."""
    store = host.store()
    if domain is None:
        return all_ids(store)
    domid = domains.resolve(store, domain)
    ids = all_ids(store, domid)
    if vdev is None:
        return ids
    try:
        devid = vdevs.to_devid(vdev)
    except vdevs.VdevError as e:
        raise UnknownVdev(f"unknown vdev {vdev!r}: {e}") from None
    if (domid, devid) not in ids:
        raise UnknownVdev(f"domain {domain!r} has no vdev {vdev!r}")
    return [(domid, devid)]


def status(host: Host, domain: str | None = None, vdev: str | None = None) -> list[Vbd]:
    """The model of each selected vbd."""
    store = host.store()
    return [gather(store, host.disks(), host.sysfs, d, n) for d, n in select(host, domain, vdev)]


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
