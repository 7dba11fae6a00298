"""A vbd as dom0 sees it: xenstore (both ends) + the backing disk + counters."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from . import domains, vdev
from .devices import BlockDevice, DiskSource, parse_physical_device
from .errors import UnknownVdev
from .stats import read_stats, sysfs_name
from .untrusted import show_optional
from .verdict import Facts, confirmed, judge
from .xenstore import BACKEND_VBD, Store

XENBUS_STATES = {0: "Unknown", 1: "Initialising", 2: "InitWait", 3: "Initialised", 4: "Connected",
                 5: "Closing", 6: "Closed", 7: "Reconfiguring", 8: "Reconfigured"}
ADMIN_NODE = "data-integrity-enable"
ROOT_VDEV = vdev.parse("xvda").devid
_SYSFS_NAME = re.compile(r"^vbd-(\d+)-(\d+)$")
_STATE = re.compile(r"[0-9]{1,3}")


@dataclass
class Vbd:
    """Everything ``xendix status`` says about one vbd."""

    domid: int
    domain: str
    devid: int
    vdev: str
    backend_path: str
    frontend_path: str
    backend_state: int | None = None
    frontend_state: int | None = None
    params: str | None = None
    mode: str | None = None
    physical_device: str | None = None
    backing: BlockDevice | None = None
    admin: str | None = None  # data-integrity-enable as written, None when absent
    advertised: str | None = None  # backend feature-data-integrity
    profile: dict[str, str | None] = field(default_factory=dict)  # backend data-integrity-*
    negotiated: str | None = None  # frontend feature-data-integrity
    confirmed_format: str | None = None  # frontend data-integrity-format: guest bytes, untrusted
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return sysfs_name(self.domid, self.devid)

    @property
    def admin_enabled(self) -> bool:
        return self.admin is None or self.admin.strip() not in ("0", "")

    @property
    def is_root(self) -> bool:
        """The guest's first disk (xvda, hda, sda): its root, by convention."""
        try:
            vd = vdev.decode(self.devid)
        except vdev.VdevError:
            return False
        return vd.disk == 0

    def facts(self) -> Facts:
        known = self.backing is not None and self.backing.integrity.known
        return Facts(self.backend_state, self.frontend_state, self.advertised, self.negotiated,
                     self.admin_enabled, known, self.backing is not None,
                     self.profile.get("format"), self.confirmed_format)

    @property
    def verdict(self) -> tuple[str, str]:
        return judge(self.facts())


def _state(store: Store, path: str) -> int | None:
    """A xenbus state; None for anything that is not a small decimal number
    (the frontend's is written by the guest)."""
    value = store.read(f"{path}/state")
    return int(value) if value and _STATE.fullmatch(value) else None


def backing_device(store: Store, disks: DiskSource, backend: str) -> BlockDevice | None:
    """The dom0 device behind a backend: physical-device first, then params."""
    phys = parse_physical_device(store.read(f"{backend}/physical-device") or "")
    if phys:
        found = disks.by_devnum(*phys)
        if found:
            return found
    params = store.read(f"{backend}/params") or ""
    if params.startswith("/"):
        return disks.by_path(params)
    return None


def gather(store: Store, disks: DiskSource, sysfs, domid: int, devid: int) -> Vbd:
    """Read one vbd's model."""
    be = f"{BACKEND_VBD}/{domid}/{devid}"
    fe = store.read(f"{be}/frontend") or f"/local/domain/{domid}/device/vbd/{devid}"
    v = Vbd(domid, domains.name_of(store, domid), devid,
            store.read(f"{be}/dev") or vdev.name_of(devid), be, fe)
    v.backend_state, v.frontend_state = _state(store, be), _state(store, fe)
    v.params, v.mode = store.read(f"{be}/params"), store.read(f"{be}/mode")
    v.physical_device = store.read(f"{be}/physical-device")
    v.backing = backing_device(store, disks, be)
    v.admin = store.read(f"{be}/{ADMIN_NODE}")
    v.advertised = store.read(f"{be}/feature-data-integrity")
    v.profile = {k: store.read(f"{be}/data-integrity-{k}")
                 for k in ("format", "interval", "tuple-size", "tag-size")}
    v.negotiated = store.read(f"{fe}/feature-data-integrity")
    v.confirmed_format = store.read(f"{fe}/data-integrity-format")
    v.stats = read_stats(sysfs, domid, devid)
    return v


def all_ids(store: Store, domid: int | None = None) -> list[tuple[int, int]]:
    """(domid, devid) of every vbd backend in dom0, or of one domain."""
    out = []
    for d in store.list(BACKEND_VBD):
        if d.isdigit() and (domid is None or int(d) == domid):
            out += [(int(d), int(n)) for n in store.list(f"{BACKEND_VBD}/{d}") if n.isdigit()]
    return sorted(out)


def resolve(store: Store, domain_spec: str, vdev_spec: str) -> tuple[int, int]:
    """DOMAIN VDEV (name or id; xvdb or 51728) -> (domid, devid) of an existing vbd."""
    domid = domains.resolve(store, domain_spec)
    try:
        devid = vdev.to_devid(vdev_spec)
    except vdev.VdevError as e:
        raise UnknownVdev(f"unknown vdev {vdev_spec!r}: {e}") from None
    if (domid, devid) not in all_ids(store, domid):
        raise UnknownVdev(f"domain {domain_spec!r} has no vdev {vdev_spec!r}")
    return domid, devid


def parse_id(spec: str) -> tuple[int, int] | None:
    """``DOMID/DEVID`` or ``vbd-DOMID-DEVID`` -> ids; None for anything else."""
    m = _SYSFS_NAME.match(spec) or re.match(r"^(\d+)/(\d+)$", spec)
    return (int(m[1]), int(m[2])) if m else None


def to_json(v: Vbd) -> dict[str, Any]:
    """The JSON shape of one vbd in ``xendix status --json``."""
    verdict, reason = v.verdict
    b = v.backing
    return {
        "domain": v.domain, "domid": v.domid, "vdev": v.vdev, "devid": v.devid, "name": v.name,
        "backend": {"path": v.backend_path, "state": v.backend_state,
                    "state_name": XENBUS_STATES.get(v.backend_state, None),
                    "params": v.params, "mode": v.mode, "physical_device": v.physical_device,
                    "feature_data_integrity": v.advertised, "profile": v.profile},
        "frontend": {"path": v.frontend_path, "state": v.frontend_state,
                     "state_name": XENBUS_STATES.get(v.frontend_state, None),
                     "feature_data_integrity": show_optional(v.negotiated),
                     "confirmed_format": show_optional(v.confirmed_format),
                     "confirmed": confirmed(v.facts())},
        "backing": None if b is None else {
            "device": b.name, "disk": b.disk, "devnum": b.devnum, "integrity": b.integrity.as_dict()},
        "admin": {"data_integrity_enable": v.admin, "enabled": v.admin_enabled},
        "verdict": verdict, "reason": reason, "stats": v.stats,
    }
