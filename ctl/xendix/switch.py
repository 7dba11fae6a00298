"""``xendix enable|disable``: pick the vbds, check, write, and maybe re-attach."""

from __future__ import annotations

from .errors import Usage
from .host import Host
from .inventory import status
from .reattach import Reattached, check_safe, plan, reattach
from .toggle import Change, write_toggles


def check_args(domain: str | None, vdev: str | None, every: bool) -> None:
    """DOMAIN VDEV, or ``--all`` with at most a DOMAIN (Usage otherwise)."""
    if every and vdev is not None:
        raise Usage(f"--all switches every vbd (of DOMAIN): give no VDEV ({vdev!r}), or drop --all")
    if not every and domain is None:
        raise Usage("name a DOMAIN and a VDEV, or use --all")
    if not every and vdev is None:
        raise Usage(f"missing VDEV: name a disk of {domain!r}, or use --all for every one")


def switch(host: Host, enable: bool, domain: str | None, vdev: str | None,
           every: bool = False, now: bool = False) -> tuple[list[Change], list[Reattached]]:
    """Set the toggle of one vbd (DOMAIN VDEV) or of all (``every``, maybe of
    one DOMAIN).  Every check runs before the one transaction that writes,
    so a refusal writes nothing; ``now`` then re-attaches each disk (its
    libxl config read first, see :func:`reattach.plan`)."""
    check_args(domain, vdev, every)
    vbds = status(host, domain, None if every else vdev)
    if now:
        for v in vbds:
            check_safe(v)
    plans = [plan(host, v) for v in vbds] if now else []
    changes = write_toggles(host.store(), {(v.domid, v.devid): enable for v in vbds})
    done = [reattach(host, p, enable) for p in plans]
    return changes, done
