"""libxl's own config of a guest disk (``xl list -l DOMID``, JSON) and the
``xl block-attach`` disk spec that re-creates it field for field.

The disk is a ``libxl_device_disk`` (tools/libs/light/libxl_types.idl,
Xen 4.17); the JSON leaves out fields at their default, spells enums in
lower case and defbools as ``"True"``, ``"False"`` or ``"<default>"``.
Each field maps to the key xl's disk parser reads
(docs/man/xl-disk-configuration.5.pod.in, tools/libs/util/libxlu_disk_l.l):

======================  ==========================================
pdev_path               ``target=`` (last: the rest of the spec)
vdev                    ``vdev=``
format                  ``format=``
backend                 ``backendtype=``
backend_domname/_domid  ``backend=`` (a name, or a domid in digits)
script                  ``script=``
readwrite               ``access=rw`` / ``access=ro``
is_cdrom (removable)    ``devtype=cdrom`` (xl sets removable with it)
direct_io_safe          ``direct-io-safe``
discard_enable          ``discard`` / ``no-discard``
specification           ``specification=`` (xen only: libxl cannot
                        hotplug a virtio disk)
colo_enable             ``colo`` / ``no-colo``
colo_host, colo_port,   ``colo-host=``, ``colo-port=``,
colo_export,            ``colo-export=``,
active_disk,            ``active-disk=``,
hidden_disk             ``hidden-disk=``
trusted                 ``trusted`` / ``untrusted``
======================  ==========================================

A field or value the spec cannot say (a field of a newer libxl, a virtio
disk, a comma in a value the parser ends at a comma...) is
:class:`Refused` before anything is detached: a disk is never re-attached
with less than it had.
"""

from __future__ import annotations

import json
from typing import Any

from . import vdev as vdevs
from .errors import Refused, XendixError

FORMATS = ("qcow", "qcow2", "vhd", "raw", "empty", "qed")
BACKENDS = ("phy", "tap", "qdisk", "standalone")
UNKNOWN = "unknown"
DEFBOOL = {"True": True, "False": False, "<default>": None}
# Fields libxl fills in itself and that carry no choice of the user's:
# virtio-mmio's irq and base ("for internal use by libxl"), and the
# transport, which only a virtio disk has (refused anyway).
INTERNAL = ("irq", "base")
# key in the JSON -> key in the spec, for the plain string fields
STRINGS = (("colo_host", "colo-host"), ("colo_export", "colo-export"),
           ("active_disk", "active-disk"), ("hidden_disk", "hidden-disk"))
KNOWN = frozenset({"backend_domid", "backend_domname", "pdev_path", "vdev", "backend", "format",
                   "script", "removable", "readwrite", "is_cdrom", "direct_io_safe",
                   "discard_enable", "specification", "transport", "colo_enable",
                   "colo_restore_enable", "colo_port", "trusted", *INTERNAL,
                   *(k for k, _ in STRINGS)})


class DiskConfigError(Refused):
    """libxl's config of a disk holds something the disk spec cannot carry."""


def domain_disks(text: str, domid: int) -> list[dict[str, Any]]:
    """The disks of ``domid`` in the output of ``xl list -l DOMID``."""
    try:
        doc = json.loads(text)
    except ValueError:
        raise XendixError("xl list -l did not print JSON (is output_format=\"json\" in "
                          "xl.conf?)") from None
    for entry in doc if isinstance(doc, list) else []:
        if isinstance(entry, dict) and entry.get("domid") == domid:
            disks = (entry.get("config") or {}).get("disks") or []
            if not isinstance(disks, list) or not all(isinstance(d, dict) for d in disks):
                raise XendixError(f"xl list -l {domid}: its disks are not a list of objects")
            return disks
    raise XendixError(f"xl list -l {domid} has no domain {domid}")


def find_disk(disks: list[dict[str, Any]], devid: int) -> dict[str, Any] | None:
    """The disk whose vdev names ``devid`` (``xvdb``, ``hdb``, ``51728``...)."""
    for d in disks:
        try:
            if vdevs.to_devid(str(d.get("vdev", ""))) == devid:
                return d
        except vdevs.VdevError:
            continue
    return None


def _refuse(what: str) -> DiskConfigError:
    return DiskConfigError(f"xl block-attach cannot re-create this disk: {what}")


def _enum(disk: dict[str, Any], key: str, allowed: tuple[str, ...]) -> str | None:
    value = disk.get(key, UNKNOWN)
    if not isinstance(value, str) or value.lower() not in (*allowed, UNKNOWN):
        raise _refuse(f"{key} {value!r}")
    return None if value.lower() == UNKNOWN else value.lower()


def _defbool(disk: dict[str, Any], key: str) -> bool | None:
    value = disk.get(key, "<default>")
    if value not in DEFBOOL:
        raise _refuse(f"{key} {value!r}")
    return DEFBOOL[value]


def _flag(disk: dict[str, Any], key: str) -> bool:
    value = disk.get(key, 0)
    if value not in (0, 1, True, False):
        raise _refuse(f"{key} {value!r}")
    return bool(value)


def _text(disk: dict[str, Any], key: str, last: bool = False) -> str | None:
    """A string field.  Only the last key (target) may hold a comma, but
    not at its end (xl strips one trailing comma); the others end at one."""
    value = disk.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or any(ord(c) < 0x20 or c == "\x7f" for c in value) or (
            value.endswith(",") if last else ("," in value or value != value.strip())):
        raise _refuse(f"{key} {value!r}")
    return value


def disk_spec(disk: dict[str, Any]) -> str:
    """The ``xl block-attach`` spec that gives libxl this disk config again."""
    unknown = sorted(set(disk) - KNOWN)
    if unknown:
        raise _refuse(f"it has {', '.join(unknown)}, which xendix does not know")
    if _enum(disk, "specification", ("xen", "virtio")) == "virtio" or \
            _enum(disk, "transport", ("mmio",)) is not None:
        raise _refuse("libxl cannot hotplug a virtio disk")
    if _defbool(disk, "colo_restore_enable"):
        raise _refuse("colo_restore_enable has no disk spec key")
    cdrom = _flag(disk, "is_cdrom")
    if _flag(disk, "removable") and not cdrom:
        raise _refuse("removable without devtype=cdrom has no disk spec key")
    vdev = _text(disk, "vdev")
    if not vdev:
        raise _refuse("no vdev")
    parts = [f"vdev={vdev}", f"access={'rw' if _flag(disk, 'readwrite') else 'ro'}"]
    fmt = _enum(disk, "format", FORMATS)
    if fmt:
        parts.append(f"format={fmt}")
    if cdrom:
        parts.append("devtype=cdrom")
    backend = _enum(disk, "backend", BACKENDS)
    if backend:
        parts.append(f"backendtype={backend}")
    name, domid = _text(disk, "backend_domname"), disk.get("backend_domid", 0)
    if not isinstance(domid, int) or isinstance(domid, bool) or domid < 0:
        raise _refuse(f"backend_domid {domid!r}")
    if name or domid:
        parts.append(f"backend={name or domid}")
    script = _text(disk, "script")
    if script:
        parts.append(f"script={script}")
    if _flag(disk, "direct_io_safe"):
        parts.append("direct-io-safe")
    for key, on, off in (("discard_enable", "discard", "no-discard"),
                         ("colo_enable", "colo", "no-colo"),
                         ("trusted", "trusted", "untrusted")):
        value = _defbool(disk, key)
        if value is not None:
            parts.append(on if value else off)
    if _enum(disk, "specification", ("xen",)):
        parts.append("specification=xen")
    for key, word in STRINGS:
        value = _text(disk, key)
        if value is not None:
            parts.append(f"{word}={value}")
    port = disk.get("colo_port", 0)
    if not isinstance(port, int) or isinstance(port, bool) or port < 0:
        raise _refuse(f"colo_port {port!r}")
    if port:
        parts.append(f"colo-port={port}")
    target = _text(disk, "pdev_path", last=True)
    if target is None and not cdrom:
        raise _refuse("no pdev_path (target)")
    if target is not None:
        parts.append(f"target={target}")
    return ",".join(parts)
