"""Names in xenstore and sysfs, written once: backend and frontend
directories of a vbd, its sysfs device, and xenstore reads and writes."""

from __future__ import annotations

from pathlib import Path

from xendix.vdev import to_devid as devid  # noqa: F401  (the one vdev codec)

from .base import sh

XL = "xl"  # dom0-init puts the job's Xen toolstack on PATH
XVDB = devid("xvdb")  # every scenario's disk under test


def backend_dir(domid: int, devid: int = XVDB, backend_domid: int = 0) -> str:
    """The xenstore directory of a vbd's backend."""
    return f"/local/domain/{backend_domid}/backend/vbd/{domid}/{devid}"


def frontend_dir(domid: int, devid: int = XVDB) -> str:
    """The xenstore directory of a vbd's frontend."""
    return f"/local/domain/{domid}/device/vbd/{devid}"


def vbd_name(domid: int, devid: int = XVDB) -> str:
    """The backend device's name on the xen-backend bus."""
    return f"vbd-{domid}-{devid}"


def vbd_sysfs(domid: int, devid: int = XVDB) -> Path:
    return Path("/sys/bus/xen-backend/devices") / vbd_name(domid, devid)


def xs_read(path: str) -> str | None:
    """A xenstore node's value, or None when it does not exist."""
    proc = sh("xenstore-read", path, check=False, timeout=20)
    return proc.stdout.strip() if proc.returncode == 0 else None


def xs_write(path: str, value: str) -> None:
    sh("xenstore-write", path, value, timeout=20)


def backend_vbds() -> list[str]:
    """The vbd backend devices that exist in dom0 right now."""
    return sorted(p.name for p in Path("/sys/bus/xen-backend/devices").glob("vbd-*"))
