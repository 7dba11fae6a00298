"""The one-word verdict on a vbd, and why: a pure function of the model."""

from __future__ import annotations

from dataclasses import dataclass

from .digits import decimal
from .toggle import xenbus_unsigned
from .untrusted import show

PROTECTED = "protected"
OFF = "off"
UNSUPPORTED_DISK = "unsupported-disk"
OLD_FRONTEND = "old-frontend"
OLD_BACKEND = "old-backend"
NOT_CONNECTED = "not-connected"
RECONNECT = "reconnect-needed"
UNCONFIRMED = "unconfirmed"
UNSUPPORTED_BACKEND = "unsupported-backend"
PROFILE_CHANGED = "profile-changed"

VERDICTS = {
    PROTECTED: ("both ends negotiated DIX and the frontend confirmed the backend's profile: "
                "PI travels from the guest to the disk"),
    UNCONFIRMED: "the frontend opted in but did not confirm the backend's profile",
    PROFILE_CHANGED: ("negotiated and confirmed, but the backing disk no longer has the profile "
                      "blkback advertised (lost, or another format or interval): blkback refuses "
                      "every DIX pair, the guest gets EIO, until the vbd is re-attached"),
    OFF: "the admin toggle data-integrity-enable is 0 (as blkback reads it: \"00\", \"0x1\" too)",
    UNSUPPORTED_DISK: "the backing disk has no T10 integrity profile",
    OLD_FRONTEND: "the backend offers DIX but the guest's blkfront does not know it",
    OLD_BACKEND: "dom0's blkback does not know DIX (never wrote feature-data-integrity)",
    NOT_CONNECTED: "the backend or the frontend is not in Connected state",
    RECONNECT: "DIX is enabled and the disk can do it, but the connection predates that: reconnect",
    UNSUPPORTED_BACKEND: "the disk is served by a backend without DIX (qdisk, vbd3...), not blkback",
}

BLKBACK = "vbd"  # the backend type of blkback; any other never carries PI
BACKEND_NAMES = {"qdisk": "qdisk (QEMU)", "vbd3": "vbd3 (tapdisk3)", "tap": "tap (blktap)"}

CONNECTED = 4


@dataclass(frozen=True)
class Facts:
    """What the verdict depends on, taken from a Vbd."""

    backend_state: int | None
    frontend_state: int | None
    advertised: str | None  # backend feature-data-integrity: None (absent), "0", "1"
    negotiated: str | None  # frontend feature-data-integrity: guest-written, untrusted
    admin_enabled: bool  # data-integrity-enable absent or non-zero, as blkback reads it
    disk_known: bool  # the backing disk has a T10 profile
    disk_seen: bool  # the backing disk was found at all
    offered_format: str | None  # backend data-integrity-format (blkback)
    confirmed_format: str | None  # frontend data-integrity-format: guest-written, untrusted
    backend_type: str = BLKBACK  # the backend directory's type: vbd, qdisk, vbd3...
    backend_domid: int = 0  # the backend's domain: 0, or a driver domain
    offered_interval: str | None = None  # backend data-integrity-interval (blkback)
    disk_format: str | None = None  # the backing disk's integrity format now ("none"); None: unread
    disk_interval: int | None = None  # its protection interval in bytes; None: unread


def confirmed(f: Facts) -> bool:
    """The frontend registered exactly the profile the backend offered."""
    return f.offered_format is not None and f.confirmed_format == f.offered_format


def _unconfirmed_reason(f: Facts) -> str:
    if f.confirmed_format is None:
        return "the frontend opted in but registered no profile (no data-integrity-format)"
    if f.offered_format is None:
        return (f"the frontend confirmed '{show(f.confirmed_format)}' but the backend "
                "wrote no data-integrity-format")
    return (f"the frontend registered a different format: '{show(f.confirmed_format)}', "
            f"the backend offered '{show(f.offered_format)}'")


def _profile(fmt: str | None, interval: int | None) -> str:
    """format/interval as ``xendix status`` shows a profile; each part escaped."""
    return show(fmt if fmt is not None else "none") + ("" if interval is None else f"/{interval}")


def _drift(f: Facts) -> str | None:
    """What the backing disk has now that differs from blkback's advertised
    profile, or None when it still has that profile (or dom0 cannot see it:
    a driver domain's disk, or a disk not found).  The format is compared
    exactly; the interval when both sides have one."""
    if f.backend_domid != 0 or not f.disk_seen:
        return None
    offered = decimal(f.offered_interval or "")
    if not f.disk_known:
        has = "" if f.disk_format in (None, "none") else f" (its format is '{show(f.disk_format)}')"
        return f"the backing disk has no T10 profile now{has}"
    format_differs = f.disk_format is not None and f.disk_format != f.offered_format
    interval_differs = (offered is not None and f.disk_interval is not None
                        and f.disk_interval != offered)
    if format_differs or interval_differs:
        fmt = f.offered_format if f.disk_format is None else f.disk_format
        return f"the backing disk's profile is {_profile(fmt, f.disk_interval)} now"
    return None


def _profile_changed_reason(f: Facts, drift: str) -> str:
    offered = _profile(f.offered_format, decimal(f.offered_interval or ""))
    fix = ("xendix enable DOMAIN VDEV --now" if f.admin_enabled
           else "xendix disable DOMAIN VDEV --now (the toggle is 0)")
    return (f"{drift}, blkback advertised {offered} at connect: every DIX read and write fails "
            f"with EIO until the vbd reconnects; re-attach it: {fix}")


def _in(domid: int) -> str:
    return "" if domid == 0 else f" in domain {domid}"


def judge(f: Facts) -> tuple[str, str]:
    """(verdict, reason).  Both feature nodes are read as the kernel reads
    them (:func:`~xendix.toggle.xenbus_unsigned`, absent is 0): "01" is on."""
    if f.backend_type != BLKBACK:
        name = BACKEND_NAMES.get(f.backend_type, f.backend_type)
        return UNSUPPORTED_BACKEND, f"{name} backend{_in(f.backend_domid)}: no DIX support"
    if f.backend_state != CONNECTED or f.frontend_state != CONNECTED:
        return NOT_CONNECTED, (f"backend state {f.backend_state}, frontend state "
                               f"{f.frontend_state} (4 is Connected)")
    if f.advertised is None:
        return OLD_BACKEND, (f"the backend{_in(f.backend_domid)} did not write "
                             "feature-data-integrity: stock blkback")
    if xenbus_unsigned(f.advertised, 0):
        if not xenbus_unsigned(f.negotiated, 0):
            return OLD_FRONTEND, "the backend advertises DIX, the frontend did not opt in"
        if not confirmed(f):
            return UNCONFIRMED, _unconfirmed_reason(f)
        drift = _drift(f)
        if drift is not None:
            return PROFILE_CHANGED, _profile_changed_reason(f, drift)
        if not f.admin_enabled:
            return PROTECTED, "protected now; disabled by the admin since: off at the next connect"
        return PROTECTED, (f"the backend advertised DIX, the frontend opted in and confirmed "
                           f"{show(f.offered_format)}")
    if not f.admin_enabled:
        return OFF, "data-integrity-enable is 0 as blkback reads it"
    if f.backend_domid != 0:
        return UNSUPPORTED_DISK, (f"blkback{_in(f.backend_domid)} advertised no DIX with the toggle "
                                  "on: its disk, out of dom0's sight, has no T10 profile (or the "
                                  "connection predates the toggle)")
    if not f.disk_known:
        why = "has no T10 integrity profile" if f.disk_seen else "was not found in dom0"
        return UNSUPPORTED_DISK, f"the backing disk {why}"
    return RECONNECT, "enabled and the disk is capable, but the backend advertised 0 when it connected"
