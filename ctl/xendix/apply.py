"""``xendix apply``: the policy's decision for one vbd, written to its toggle."""

from __future__ import annotations

from dataclasses import dataclass

from . import domains, policy as policies
from .devices import BlockDevice
from .errors import UnknownVdev
from .host import Host
from .toggle import Change, write_toggles
from .vbd import ADMIN_NODE, backing_device, parse_id, resolve
from .xenstore import BACKEND_VBD

WAIT = 10.0


@dataclass(frozen=True)
class Applied:
    """What apply did for one vbd."""

    domid: int
    devid: int
    domain: str
    decision: policies.Decision
    backing: BlockDevice | None
    change: Change | None  # None: kept an existing toggle (--keep-existing)


def wait_for_backing(host: Host, domid: int, devid: int, wait: float) -> BlockDevice | None:
    """The vbd's backing device, polling up to ``wait`` seconds while the
    hotplug script has not yet named it (udev's add event can come first)."""
    store, be = host.store(), f"{BACKEND_VBD}/{domid}/{devid}"
    end = host.clock() + wait
    while True:
        found = backing_device(store, host.disks(), be)
        if found is not None or host.clock() >= end:
            return found
        host.sleep(0.2)


def apply(host: Host, pol: policies.Policy, domid: int, devid: int,
          keep_existing: bool = False, wait: float = WAIT) -> Applied:
    """Decide on/off for the vbd and write it (before its frontend connects
    when run from udev's add event)."""
    store = host.store()
    be = f"{BACKEND_VBD}/{domid}/{devid}"
    if store.read(f"{be}/frontend") is None:
        raise UnknownVdev(f"no vbd {domid}/{devid} in dom0's backend directory")
    name = domains.name_of(store, domid)
    if keep_existing and store.read(f"{be}/{ADMIN_NODE}") is not None:
        decision = policies.decide(pol, name, devid, None)
        return Applied(domid, devid, name, decision, None, None)
    backing = None
    decision = policies.decide(pol, name, devid, None)
    if decision.mode == "auto":
        backing = wait_for_backing(host, domid, devid, wait)
        decision = policies.decide(pol, name, devid, backing is not None and backing.integrity.known)
    change = write_toggles(store, {(domid, devid): decision.enable})[0]
    return Applied(domid, devid, name, decision, backing, change)


def target(host: Host, args: tuple[str, ...]) -> tuple[int, int]:
    """``DOMID/DEVID``, ``vbd-DOMID-DEVID`` or ``DOMAIN VDEV`` -> (domid, devid)."""
    if len(args) == 1:
        ids = parse_id(args[0])
        if ids is None:
            raise UnknownVdev(f"not a vbd: {args[0]!r} (DOMID/DEVID, vbd-DOMID-DEVID or DOMAIN VDEV)")
        return ids
    if len(args) == 2:
        return resolve(host.store(), args[0], args[1])
    raise UnknownVdev("name one vbd: DOMID/DEVID, vbd-DOMID-DEVID or DOMAIN VDEV")
