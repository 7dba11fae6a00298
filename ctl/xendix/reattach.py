"""``--now``: detach the disk and attach it again with the same config, so
the new toggle is read when blkback connects.

The backend directory (and the toggle in it) goes with the detach, so the
toggle is written again as soon as xl recreates the directory, before the
hotplug script names the physical device and blkback can connect.
"""

from __future__ import annotations

import posixpath
import subprocess
from dataclasses import dataclass

from .errors import Refused, XendixError
from .host import XL, Host
from .vbd import ADMIN_NODE, XENBUS_STATES, Vbd, gather
from .verdict import CONNECTED
from .xenstore import Store, transaction

DETACH_TIMEOUT = 60.0
ATTACH_TIMEOUT = 120.0
CONNECT_TIMEOUT = 60.0


@dataclass(frozen=True)
class Reattached:
    """The vbd after its re-attach."""

    before: Vbd
    after: Vbd


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


def disk_spec(v: Vbd, backend_type: str | None, script: str | None) -> str:
    """The xl disk spec that re-creates this vbd (target last: it may hold commas)."""
    access = "rw" if (v.mode or "w").startswith("w") else "ro"
    parts = [f"vdev={v.vdev}", f"access={access}"]
    if backend_type in ("phy", "qdisk", "tap"):
        parts.append(f"backendtype={backend_type}")
    if script and posixpath.basename(script) != "block":
        parts.append(f"script={script}")
    parts.append(f"target={v.params}")
    return ", ".join(parts)


def _write_if_present(store: Store, be: str, value: str) -> bool:
    def body(tx: Store) -> bool:
        if tx.read(f"{be}/frontend") is None:
            return False
        tx.write(f"{be}/{ADMIN_NODE}", value)
        return True
    return transaction(store, body)


def _wait(host: Host, predicate, timeout: float) -> bool:
    end = host.clock() + timeout
    while not predicate():
        if host.clock() >= end:
            return False
        host.sleep(0.2)
    return True


def reattach(host: Host, v: Vbd, enable: bool) -> Reattached:
    """Detach ``v``, attach it again with the toggle set to ``enable``, and
    wait (bounded) until both ends are Connected again."""
    check_safe(v)
    store, be, value = host.store(), v.backend_path, "1" if enable else "0"
    spec = disk_spec(v, store.read(f"{be}/type"), store.read(f"{be}/script"))
    _xl(host, ["block-detach", str(v.domid), str(v.devid)], DETACH_TIMEOUT)
    if not _wait(host, lambda: store.read(f"{be}/frontend") is None, DETACH_TIMEOUT):
        raise XendixError(f"{v.domain} {v.vdev}: the backend did not go after block-detach")
    watch = store.watch([be])
    try:
        proc = host.spawn([XL, "block-attach", str(v.domid), spec])
        written = False
        end = host.clock() + ATTACH_TIMEOUT
        while proc.poll() is None and not written and host.clock() < end:
            if watch.get(0.5) is not None:
                written = _write_if_present(store, be, value)
        if not written:
            written = _write_if_present(store, be, value)
        out, err = proc.communicate(timeout=max(1.0, end - host.clock()))
    except subprocess.TimeoutExpired:
        proc.kill()
        raise XendixError(f"{v.domain} {v.vdev}: xl block-attach took over {ATTACH_TIMEOUT:.0f}s") from None
    finally:
        watch.close()
    if proc.returncode != 0:
        raise XendixError(f"xl block-attach {v.domid} '{spec}' failed: {(err or out).strip()}")
    if not written:
        raise XendixError(f"{v.domain} {v.vdev}: no backend after block-attach")

    def connected() -> bool:
        return store.read(f"{be}/state") == "4" and store.read(f"{v.frontend_path}/state") == "4"

    if not _wait(host, connected, CONNECT_TIMEOUT):
        raise XendixError(f"{v.domain} {v.vdev}: re-attached but not Connected after {CONNECT_TIMEOUT:.0f}s")
    return Reattached(v, gather(store, host.disks(), host.sysfs, v.domid, v.devid))


def _xl(host: Host, args: list[str], timeout: float) -> None:
    try:
        proc = host.run([XL, *args], timeout=timeout)
    except subprocess.TimeoutExpired:
        raise XendixError(f"xl {' '.join(args)} took over {timeout:.0f}s") from None
    except FileNotFoundError:
        raise XendixError("xl not found on PATH") from None
    if proc.returncode != 0:
        raise XendixError(f"xl {' '.join(args)} failed: {(proc.stderr or proc.stdout).strip()}")
