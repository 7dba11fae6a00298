"""``xendix enable|disable``: pick the vbds, check, write, and maybe re-attach."""

from __future__ import annotations

from .errors import UnknownVdev
from .host import Host
from .inventory import status
from .reattach import Reattached, check_safe, reattach
from .toggle import Change, write_toggles


def switch(host: Host, enable: bool, domain: str | None, vdev: str | None,
           every: bool = False, now: bool = False) -> tuple[list[Change], list[Reattached]]:
    """Set the toggle of one vbd (DOMAIN VDEV) or of all (``every``, maybe of
    one DOMAIN).  Every check runs before the one transaction that writes,
    so a refusal writes nothing; ``now`` then re-attaches each disk."""
    if not every and (domain is None or vdev is None):
        raise UnknownVdev("name a DOMAIN and a VDEV, or use --all")
    vbds = status(host, domain, None if every else vdev)
    if now:
        for v in vbds:
            check_safe(v)
    changes = write_toggles(host.store(), {(v.domid, v.devid): enable for v in vbds})
    done = [reattach(host, v, enable) for v in vbds] if now else []
    return changes, done
