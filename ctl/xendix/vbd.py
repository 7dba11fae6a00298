"""A vbd as dom0 sees it: xenstore (both ends) + the backing disk + counters.

Every guest disk counts: dom0's blkback vbds, and the disks that another
backend serves (qdisk, vbd3, blkback in a driver domain).  Values that reach
a person or a program (the model's names, :func:`to_json`) are escaped
(:mod:`untrusted`); the raw ones stay for comparisons and for ``xl``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from . import domains, vdev
from .devices import BlockDevice, DiskSource, parse_physical_device
from .errors import UnknownVdev
from .stats import read_stats
from .toggle import ADMIN_NODE, admin_enabled
from .untrusted import PATH_CAP, show, show_optional
from .verdict import BLKBACK, Facts, confirmed, judge
from .xenstore import BACKEND_VBD, Store

XENBUS_STATES = {0: "Unknown", 1: "Initialising", 2: "InitWait", 3: "Initialised", 4: "Connected",
                 5: "Closing", 6: "Closed", 7: "Reconfiguring", 8: "Reconfigured"}
_STATE = re.compile(r"[0-9]{1,3}")
_ID = re.compile(r"0|[1-9][0-9]{0,9}")  # a domid or devid as xenstore names it, ASCII only
_TYPE = re.compile(r"[A-Za-z0-9_.-]{1,32}")  # a backend type (vbd, qdisk, vbd3...)


class VbdRef(NamedTuple):
    """Where one guest disk is: its frontend (domid, devid) and its backend."""

    domid: int
    devid: int
    backend_domid: int = 0
    backend_type: str = BLKBACK

    @property
    def backend_path(self) -> str:
        return f"/local/domain/{self.backend_domid}/backend/{self.backend_type}/{self.domid}/{self.devid}"

    @property
    def frontend_path(self) -> str:
        return f"/local/domain/{self.domid}/device/vbd/{self.devid}"


@dataclass
class Vbd:
    """Everything ``xendix status`` says about one vbd."""

    domid: int
    domain: str
    devid: int
    vdev: str
    backend_path: str
    frontend_path: str
    backend_domid: int = 0
    backend_domain: str = "Domain-0"
    backend_type: str = BLKBACK
    backend_state: int | None = None
    frontend_state: int | None = None
    params: str | None = None
    mode: str | None = None
    physical_device: str | None = None
    backing: BlockDevice | None = None
    admin: str | None = None  # data-integrity-enable as written, None when absent
    advertised: str | None = None  # backend feature-data-integrity (a driver domain's: untrusted)
    profile: dict[str, str | None] = field(default_factory=dict)  # backend data-integrity-*
    negotiated: str | None = None  # frontend feature-data-integrity
    confirmed_format: str | None = None  # frontend data-integrity-format: guest bytes, untrusted
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The backend device's name in its domain: vbd-D-N for blkback."""
        return f"{self.backend_type}-{self.domid}-{self.devid}"

    @property
    def backend_kind(self) -> str | None:
        """None for dom0's blkback; else the backend's type, and its domain
        when it is not dom0: "qdisk", "vbd@3"."""
        if self.backend_type == BLKBACK and self.backend_domid == 0:
            return None
        return self.backend_type + (f"@{self.backend_domid}" if self.backend_domid else "")

    @property
    def admin_enabled(self) -> bool:
        """The toggle as blkback reads it (absent or unreadable: on)."""
        return admin_enabled(self.admin)

    @property
    def is_root(self) -> bool:
        """The guest's first disk (xvda, hda, sda): its root, by convention."""
        try:
            vd = vdev.decode(self.devid)
        except vdev.VdevError:
            return False
        return vd.disk == 0

    def facts(self) -> Facts:
        disk = self.backing.integrity if self.backing is not None else None
        return Facts(self.backend_state, self.frontend_state, self.advertised, self.negotiated,
                     self.admin_enabled, disk is not None and disk.known, disk is not None,
                     self.profile.get("format"), self.confirmed_format,
                     self.backend_type, self.backend_domid, self.profile.get("interval"),
                     disk.format if disk is not None else None,
                     disk.interval if disk is not None else None)

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


def gather(store: Store, disks: DiskSource, sysfs, domid: int, devid: int,
           backend_domid: int = 0, backend_type: str = BLKBACK) -> Vbd:
    """Read one vbd's model (by default: dom0's blkback vbd).  The backing
    disk and the counters are dom0's, so only a dom0 backend has them."""
    ref = VbdRef(domid, devid, backend_domid, backend_type)
    be, fe = ref.backend_path, ref.frontend_path
    v = Vbd(domid, show(domains.name_of(store, domid)), devid,
            show(store.read(f"{be}/dev") or vdev.name_of(devid)), be, fe,
            backend_domid, show(domains.name_of(store, backend_domid)), backend_type)
    v.backend_state, v.frontend_state = _state(store, be), _state(store, fe)
    v.params, v.mode = store.read(f"{be}/params"), store.read(f"{be}/mode")
    v.physical_device = store.read(f"{be}/physical-device")
    if backend_domid == 0:
        v.backing = backing_device(store, disks, be)
    v.admin = store.read(f"{be}/{ADMIN_NODE}")
    v.advertised = store.read(f"{be}/feature-data-integrity")
    v.profile = {k: store.read(f"{be}/data-integrity-{k}")
                 for k in ("format", "interval", "tuple-size", "tag-size")}
    v.negotiated = store.read(f"{fe}/feature-data-integrity")
    v.confirmed_format = store.read(f"{fe}/data-integrity-format")
    if v.backend_kind is None:
        v.stats = read_stats(sysfs, domid, devid)
    return v


def _children(store: Store, path: str) -> list[str]:
    """A directory's node names.  A driver domain names the nodes of its
    backend directories: a name the store cannot decode hides that one
    directory, not the others."""
    try:
        return store.list(path)
    except UnicodeDecodeError:
        return []


def _ids(store: Store, path: str) -> list[int]:
    """The children of ``path`` that are ids: ASCII decimal, as xenstore names them."""
    return [int(n) for n in _children(store, path) if _ID.fullmatch(n)]


def all_ids(store: Store, domid: int | None = None) -> list[tuple[int, int]]:
    """(domid, devid) of every vbd backend in dom0, or of one domain."""
    return sorted((d, n) for d in _ids(store, BACKEND_VBD) if domid in (None, d)
                  for n in _ids(store, f"{BACKEND_VBD}/{d}"))


def _is_disk(store: Store, ref: VbdRef) -> bool:
    """A backend of a guest disk: dom0's blkback vbds all are; another one
    names the disk's frontend as its own, and a driver domain's must be
    named back by that frontend, or it could claim any guest's disk."""
    if ref.backend_domid == 0 and ref.backend_type == BLKBACK:
        return True
    if store.read(f"{ref.backend_path}/frontend") != ref.frontend_path:
        return False
    return ref.backend_domid == 0 or store.read(f"{ref.frontend_path}/backend") == ref.backend_path


def locate(store: Store, domid: int | None = None) -> list[VbdRef]:
    """Every guest disk (of one domain), whatever serves it: the backend
    directories of every domain, /local/domain/*/backend/<type>/<domid>/<devid>."""
    found = []
    for b in _ids(store, "/local/domain"):
        for kind in filter(_TYPE.fullmatch, _children(store, f"/local/domain/{b}/backend")):
            base = f"/local/domain/{b}/backend/{kind}"
            for fe in _ids(store, base):
                if domid is None or fe == domid:
                    found += [VbdRef(fe, n, b, kind) for n in _ids(store, f"{base}/{fe}")]
    return sorted(ref for ref in found if _is_disk(store, ref))


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


def to_json(v: Vbd) -> dict[str, Any]:
    """The JSON shape of one vbd in ``xendix status --json``."""
    verdict, reason = v.verdict
    b = v.backing
    return {
        "domain": v.domain, "domid": v.domid, "vdev": v.vdev, "devid": v.devid, "name": v.name,
        "backend": {"path": v.backend_path, "type": v.backend_type, "domid": v.backend_domid,
                    "domain": v.backend_domain, "state": v.backend_state,
                    "state_name": XENBUS_STATES.get(v.backend_state, None),
                    "params": show_optional(v.params, PATH_CAP), "mode": show_optional(v.mode),
                    "physical_device": show_optional(v.physical_device),
                    "feature_data_integrity": show_optional(v.advertised),
                    "profile": {k: show_optional(x) for k, x in v.profile.items()}},
        "frontend": {"path": v.frontend_path, "state": v.frontend_state,
                     "state_name": XENBUS_STATES.get(v.frontend_state, None),
                     "feature_data_integrity": show_optional(v.negotiated),
                     "confirmed_format": show_optional(v.confirmed_format),
                     "confirmed": confirmed(v.facts())},
        "backing": None if b is None else {
            "device": b.name, "disk": b.disk, "devnum": b.devnum, "integrity": b.integrity.as_dict()},
        "admin": {"data_integrity_enable": show_optional(v.admin), "enabled": v.admin_enabled},
        "verdict": verdict, "reason": reason, "stats": v.stats,
    }
