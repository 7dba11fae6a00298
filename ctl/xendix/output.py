"""Tables for people, JSON for programs."""

from __future__ import annotations

import json
from typing import Any, Callable, Sequence

from .apply import Applied
from .devices import BlockDevice, Integrity
from .digits import decimal
from .inventory import DeviceRow
from .reattach import Reattached
from .toggle import Change
from .untrusted import show_optional
from .vbd import XENBUS_STATES, Vbd, to_json
from .vdev import name_of


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True)


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned columns, two spaces apart."""
    cells = [list(map(str, header))] + [["-" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells)


def profile_text(i: Integrity) -> str:
    """format/interval/tag-size, or none."""
    return "none" if i.format == "none" else f"{i.format}/{i.interval}/{i.tag_size}"


def _state(s: int | None) -> str:
    return XENBUS_STATES.get(s, "-") if s is not None else "-"


def _backing(b: BlockDevice | None) -> str:
    return "-" if b is None else f"{b.name}({b.devnum})"


def _admin(v: Vbd) -> str:
    return ("on" if v.admin_enabled else "off") + ("" if v.admin is not None else "*")


def _counter(name: str) -> Callable[[Vbd], int | None]:
    return lambda v: v.stats.get(name)


STATUS_COLUMNS: dict[str, Callable[[Vbd], Any]] = {
    "DOMAIN": lambda v: v.domain,
    "ID": lambda v: v.domid,
    "VDEV": lambda v: v.vdev,
    "DEVID": lambda v: v.devid,
    "BACKEND": lambda v: ":".join(filter(None, (v.backend_kind, _state(v.backend_state)))),
    "FRONTEND": lambda v: _state(v.frontend_state),
    "BACKING": lambda v: _backing(v.backing),
    "PROFILE": lambda v: profile_text(v.backing.integrity) if v.backing else None,
    "ADMIN": _admin,
    "ADV": lambda v: show_optional(v.advertised),
    "NEG": lambda v: show_optional(v.negotiated),
    "VERDICT": lambda v: v.verdict[0],
    **{name.upper(): _counter(name) for name in ("dix_req", "dix_err", "rd_req", "wr_req")},
    "WHY": lambda v: v.verdict[1],
}
STATUS_DEFAULT = ("DOMAIN", "ID", "VDEV", "BACKING", "PROFILE", "ADMIN", "VERDICT", "DIX_REQ",
                  "DIX_ERR")


def status_columns(spec: str) -> tuple[str, ...]:
    """``status -o``: column names, comma-separated, any case; a leading ``+``
    adds them to the default.  ValueError names the valid ones."""
    names = [n.strip().upper() for n in spec.removeprefix("+").split(",")]
    unknown = [n for n in names if n not in STATUS_COLUMNS]
    if unknown:
        raise ValueError(f"unknown column {unknown[0]!r} (columns: {','.join(STATUS_COLUMNS)})")
    if spec.startswith("+"):
        return STATUS_DEFAULT + tuple(n for n in names if n not in STATUS_DEFAULT)
    return tuple(names)


def status_table(vbds: list[Vbd], columns: Sequence[str] = STATUS_DEFAULT) -> str:
    """One row per vbd, the ``columns`` of STATUS_COLUMNS."""
    if not vbds:
        return "no vbd"
    rows = [[STATUS_COLUMNS[c](v) for c in columns] for v in vbds]
    note = "\n(ADMIN *: data-integrity-enable not set, default on)" if "ADMIN" in columns and any(
        v.admin is None for v in vbds) else ""
    return table(columns, rows) + note


def _profile_json(profile: dict[str, str | None]) -> dict[str, Any]:
    """The backend's data-integrity-* nodes with snake_case keys and the
    numbers as ints (null when absent or not a number), as ``backing.integrity``."""
    return {k.replace("-", "_"): v if k == "format" else decimal(v or "") for k, v in profile.items()}


def vbd_json(v: Vbd) -> dict[str, Any]:
    """One vbd in ``status --json`` (and after ``--now``)."""
    out = to_json(v)
    out["backend"]["profile"] = _profile_json(out["backend"]["profile"])
    return out


def status_json(vbds: list[Vbd]) -> str:
    return dumps({"vbds": [vbd_json(v) for v in vbds]})


def devices_table(rows: list[DeviceRow]) -> str:
    return table(("DEVICE", "DEVNUM", "SIZE_MIB", "INTEGRITY", "CAPABLE", "USED_BY"), [
        (r.device.name, r.device.devnum, r.device.size_bytes // 1048576,
         profile_text(r.device.integrity), "yes" if r.device.integrity.known else "no",
         ",".join(r.used_by) or "-") for r in rows])


def devices_json(rows: list[DeviceRow]) -> str:
    return dumps({"devices": [{
        "device": r.device.name, "devnum": r.device.devnum, "size_bytes": r.device.size_bytes,
        "integrity": r.device.integrity.as_dict(), "used_by": r.used_by} for r in rows]})


def _change_json(c: Change) -> dict[str, Any]:
    return {"vbd": f"vbd-{c.domid}-{c.devid}", "domid": c.domid, "devid": c.devid,
            "vdev": name_of(c.devid), "before": c.before, "after": c.after}


NEXT_CONNECT = ("takes effect at the next connect of the disk (guest reboot, frontend "
                "reconnect, or detach + re-attach: --now)")


def toggle_text(changes: list[Change], now: list[Reattached]) -> str:
    lines = []
    for c in changes:
        word = "enabled" if c.after == "1" else "disabled"
        same = " (already)" if c.before == c.after else ""
        lines.append(f"DIX {word}{same} on vbd-{c.domid}-{c.devid} ({name_of(c.devid)})")
    if now:
        for r in now:
            verdict, _ = r.after.verdict
            lines.append(f"re-attached {r.after.domain} {r.after.vdev}: now {verdict}")
    elif changes:
        lines.append(f"this {NEXT_CONNECT}")
    return "\n".join(lines) or "no vbd"


def toggle_json(changes: list[Change], now: list[Reattached]) -> str:
    return dumps({"changes": [_change_json(c) for c in changes],
                  "takes_effect": "now" if now else "next-connect",
                  "reattached": [vbd_json(r.after) for r in now]})


def applied_text(a: Applied) -> str:
    where = f"vbd-{a.domid}-{a.devid} ({a.domain} {name_of(a.devid)})"
    if a.change is None:
        return f"{where}: kept the toggle already set"
    word = "on" if a.decision.enable else "off"
    disk = "" if a.decision.mode != "auto" else (
        f", disk {a.backing.name} {profile_text(a.backing.integrity)}" if a.backing else ", disk not found")
    return f"{where}: DIX {word} by {a.decision.rule} dix = \"{a.decision.mode}\"{disk}"


def _backing_json(b: BlockDevice | None) -> dict[str, Any] | None:
    """A backing device as ``status --json`` shows it."""
    return None if b is None else {"device": b.name, "disk": b.disk, "devnum": b.devnum,
                                   "integrity": b.integrity.as_dict()}


def applied_json(a: Applied) -> str:
    return dumps({"vbd": f"vbd-{a.domid}-{a.devid}", "domain": a.domain, "domid": a.domid,
                  "devid": a.devid, "vdev": name_of(a.devid), "mode": a.decision.mode,
                  "rule": a.decision.rule, "enable": a.decision.enable, "kept": a.change is None,
                  "backing": _backing_json(a.backing),
                  "change": _change_json(a.change) if a.change else None})


def event_line(e: dict[str, Any], as_json: bool) -> str:
    if as_json:
        return json.dumps(e, sort_keys=True)
    extra = " ".join(f"{k}={e[k]}" for k in ("node", "value", "state_name", "count", "kind",
                                               "format", "why") if k in e)
    return f"{e['time']} {e['source']} {e['event']} {e['vbd']} {extra}".rstrip()
