"""``xendix apply``: the policy's decision for one vbd, written to its toggle."""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import domains, policy as policies
from .devices import BlockDevice
from .errors import UnknownVdev, Unprotected, Usage
from .host import Host
from .toggle import Change, write_toggles
from .vbd import ADMIN_NODE, Vbd, backing_device, resolve
from .verdict import PROFILE_CHANGED, PROTECTED
from .xenstore import BACKEND_VBD

WAIT = 10.0
FORMS = "DOMID/DEVID, vbd-DOMID-DEVID or DOMAIN VDEV"
_VBD_ID = re.compile(r"vbd-([0-9]+)-([0-9]+)|([0-9]+)/([0-9]+)")


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


def parse_vbd(spec: str) -> tuple[int, int]:
    """``DOMID/DEVID`` or ``vbd-DOMID-DEVID``, in ASCII digits -> (domid, devid)."""
    m = _VBD_ID.fullmatch(spec)
    if not m:
        raise Usage(f"not a vbd: {spec!r} ({FORMS})")
    return (int(m[1]), int(m[2])) if m[1] else (int(m[3]), int(m[4]))


def check_target(spec: str, vdev: str | None) -> None:
    """The command line names one vbd in one of the three forms (Usage if not)."""
    if vdev is None:
        parse_vbd(spec)
    else:
        domains.domid_of(spec)


def target(host: Host, spec: str, vdev: str | None = None) -> tuple[int, int]:
    """``DOMID/DEVID``, ``vbd-DOMID-DEVID`` or ``DOMAIN VDEV`` -> (domid, devid)."""
    return parse_vbd(spec) if vdev is None else resolve(host.store(), spec, vdev)


def wanted(host: Host, pol: policies.Policy, v: Vbd) -> policies.Decision:
    """What the policy decides for a vbd as it is now, by its domain's name
    as xenstore has it (``v.domain`` is escaped for display), as apply would."""
    capable = v.backing is not None and v.backing.integrity.known
    return policies.decide(pol, domains.name_of(host.store(), v.domid), v.devid, capable)


def check(host: Host, pol: policies.Policy, vbds: list[Vbd]) -> None:
    """``status --check``: Unprotected names every vbd the policy wants
    protected whose verdict is not ``protected``, and every ``profile-changed``
    one whatever the policy: its guest gets EIO on each DIX pair, and ``auto``
    no longer wants a disk that lost its profile."""
    short = [v for v in vbds if v.verdict[0] == PROFILE_CHANGED
             or (wanted(host, pol, v).enable and v.verdict[0] != PROTECTED)]
    if short:
        names = ", ".join(f"{v.domain} {v.vdev} ({v.verdict[0]})" for v in short)
        raise Unprotected(f"{len(short)} of {len(vbds)} disks not protected as the policy "
                          f"({pol.source}) wants: {names}")
