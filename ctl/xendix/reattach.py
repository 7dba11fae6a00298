"""``--now``: detach the disk and attach it again with libxl's own config of
it, so blkback reads the new toggle when it connects.

The backend directory (and the toggle in it) goes with the detach, and
``xl block-attach`` creates a new one without the toggle.  blkback reads
the toggle in ``connect()``, which runs only once the frontend has reached
Initialised (``connect_ring()``); the frontend is the guest's blkfront.
So the guest is paused for the attach:

1. ``xl list -l DOMID``: libxl's config of the disk, turned into the disk
   spec that gives libxl the same config (:mod:`xendix.libxl`), before
   anything changes (``plan``);
2. ``xl block-detach`` while the guest runs (it must release the disk),
   and a bounded wait until the backend directory is gone;
3. ``xl pause``; then ``xl block-attach`` (libxl waits for blkback's
   InitWait and runs the hotplug script, all in dom0: nothing needs the
   guest); a bounded wait for the new backend directory; the toggle
   written in it (one transaction, only while the directory exists);
4. ``xl unpause``, always, on every path out of step 3: a paused guest
   is a stopped service, so the pause covers only the attach and the
   write.  ``xl pause`` nests in Xen (a count), so a guest that someone
   else paused stays paused.

A paused guest runs no blkfront, so no frontend can reach Initialised
before the toggle is in place: the order is what makes it right, not
timing.  Every ``xl`` call and every wait has a deadline.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from typing import Callable

from .errors import Refused, XendixError
from .host import XL, Host
from .libxl import disk_spec, domain_disks, find_disk
from .vbd import ADMIN_NODE, XENBUS_STATES, Vbd, gather
from .verdict import CONNECTED
from .xenstore import Store, transaction

LIST_TIMEOUT = 30.0
DETACH_TIMEOUT = 60.0
PAUSE_TIMEOUT = 30.0
ATTACH_TIMEOUT = 120.0
BACKEND_TIMEOUT = 30.0  # for the new backend directory, once block-attach returned
CONNECT_TIMEOUT = 60.0
POLL = 0.2


@dataclass(frozen=True)
class Reattached:
    """The vbd after its re-attach."""

    before: Vbd
    after: Vbd


@dataclass(frozen=True)
class Plan:
    """A vbd checked for ``--now`` and the disk spec that re-creates it."""

    vbd: Vbd
    spec: str


def check_safe(v: Vbd) -> None:
    """Refuse a root disk, or one whose frontend is not Connected."""
    if v.is_root:
        raise Refused(f"refusing --now on {v.domain} {v.vdev}: it is the guest's root disk "
                      "(the change applies at its next boot)")
    if v.frontend_state != CONNECTED:
        state = XENBUS_STATES.get(v.frontend_state, str(v.frontend_state))
        raise Refused(f"refusing --now on {v.domain} {v.vdev}: its frontend is {state}, "
                      "not Connected (the change applies when it connects)")
    if not v.params:
        raise Refused(f"refusing --now on {v.domain} {v.vdev}: no params in its backend")


def plan(host: Host, v: Vbd) -> Plan:
    """Check ``v`` and read libxl's config of it: everything ``--now`` needs,
    before anything is written or detached."""
    check_safe(v)
    out = _xl(host, ["list", "-l", str(v.domid)], LIST_TIMEOUT)
    disk = find_disk(domain_disks(out, v.domid), v.devid)
    if disk is None:
        raise XendixError(f"xl list -l {v.domid} has no disk {v.vdev} (devid {v.devid})")
    try:
        return Plan(v, disk_spec(disk))
    except Refused as e:
        raise Refused(f"refusing --now on {v.domain} {v.vdev}: {e}") from None


def _write_if_present(store: Store, be: str, value: str) -> bool:
    """Write the toggle in ``be`` if that backend directory exists (one transaction)."""
    def body(tx: Store) -> bool:
        if tx.read(f"{be}/frontend") is None:
            return False
        tx.write(f"{be}/{ADMIN_NODE}", value)
        return True
    return transaction(store, body)


def _wait(host: Host, predicate: Callable[[], bool], timeout: float) -> bool:
    """Poll ``predicate`` until it holds (True) or ``timeout`` seconds pass (False)."""
    end = host.clock() + timeout
    while not predicate():
        if host.clock() >= end:
            return False
        host.sleep(POLL)
    return True


def attach_paused(host: Host, p: Plan, value: str) -> None:
    """Pause the guest, attach the disk, write the toggle in the new backend,
    unpause: the guest is unpaused on every way out, errors included."""
    v, store, domid = p.vbd, host.store(), str(p.vbd.domid)
    be = v.backend_path
    detached = (f"; {v.domain} {v.vdev} stays detached "
                f"(xl block-attach {domid} '{p.spec}' attaches it again)")
    try:
        _xl(host, ["pause", domid], PAUSE_TIMEOUT)
    except XendixError as e:
        raise XendixError(f"{e}{detached}") from None
    failed: BaseException | None = None
    try:
        try:
            _xl(host, ["block-attach", domid, p.spec], ATTACH_TIMEOUT)
        except XendixError as e:
            raise XendixError(f"{e}{detached}") from None
        if not _wait(host, lambda: store.read(f"{be}/frontend") is not None, BACKEND_TIMEOUT):
            raise XendixError(f"{v.domain} {v.vdev}: no backend directory {BACKEND_TIMEOUT:.0f}s "
                              "after block-attach")
        if not _write_if_present(store, be, value):
            raise XendixError(f"{v.domain} {v.vdev}: the backend went before the toggle was written")
    except BaseException as e:
        failed = e
        raise
    finally:
        _unpause(host, domid, failed)


def _unpause(host: Host, domid: str, failed: BaseException | None) -> None:
    """``xl unpause``; if it fails, say that the guest is still paused (and
    why the re-attach failed too, if it did)."""
    try:
        _xl(host, ["unpause", domid], PAUSE_TIMEOUT)
    except XendixError as e:
        why = f"; before that: {failed}" if isinstance(failed, XendixError) else ""
        raise XendixError(f"{e}: domain {domid} is still paused, run 'xl unpause {domid}'"
                          f"{why}") from failed


def reattach(host: Host, p: Plan, enable: bool) -> Reattached:
    """Detach the disk of ``p``, attach it again (guest paused) with the toggle
    set to ``enable``, and wait (bounded) until both ends are Connected."""
    v, store = p.vbd, host.store()
    be = v.backend_path
    _xl(host, ["block-detach", str(v.domid), str(v.devid)], DETACH_TIMEOUT)
    if not _wait(host, lambda: store.read(f"{be}/frontend") is None, DETACH_TIMEOUT):
        raise XendixError(f"{v.domain} {v.vdev}: the backend did not go after block-detach")
    attach_paused(host, p, "1" if enable else "0")

    def connected() -> bool:
        return store.read(f"{be}/state") == "4" and store.read(f"{v.frontend_path}/state") == "4"

    if not _wait(host, connected, CONNECT_TIMEOUT):
        raise XendixError(f"{v.domain} {v.vdev}: re-attached but not Connected after {CONNECT_TIMEOUT:.0f}s")
    return Reattached(v, gather(store, host.disks(), host.sysfs, v.domid, v.devid,
                                v.backend_domid, v.backend_type))


def _xl(host: Host, args: list[str], timeout: float) -> str:
    """Run ``xl ARGS`` with a deadline; its stdout, or XendixError."""
    try:
        proc = host.run([XL, *args], timeout=timeout)
    except subprocess.TimeoutExpired:
        raise XendixError(f"xl {' '.join(args)} took over {timeout:.0f}s") from None
    except FileNotFoundError:
        raise XendixError("xl not found on PATH") from None
    if proc.returncode != 0:
        raise XendixError(f"xl {' '.join(args)} failed: {(proc.stderr or proc.stdout or '').strip()}")
    return proc.stdout or ""
