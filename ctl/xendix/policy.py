"""The DIX policy file: a default, per-domain and per-vdev overrides.

    [default]
    dix = "auto"            # on | off | auto (on only if the disk is capable)
    [domain.web]
    dix = "on"
    [domain.web.vdev.xvdc]
    dix = "off"
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from . import vdev as vdevs
from .errors import BadPolicy

DEFAULT_PATH = Path("/etc/xendix/policy.toml")
ENV = "XENDIX_POLICY"
MODES = ("on", "off", "auto")


@dataclass(frozen=True)
class Policy:
    """A validated policy. ``domains[name]`` is (mode or None, {devid: mode})."""

    default: str = "auto"
    domains: dict[str, tuple[str | None, dict[int, str]]] = field(default_factory=dict)
    source: str = "built-in"


@dataclass(frozen=True)
class Decision:
    """What the policy says for one disk, and which rule said it."""

    mode: str
    rule: str
    enable: bool


def _mode(value: object, where: str) -> str:
    if not isinstance(value, str) or value not in MODES:
        raise BadPolicy(f"{where}: dix must be one of {', '.join(MODES)}, not {value!r}")
    return value


def _table(value: object, where: str, allowed: set[str] | None = None) -> dict:
    """``value`` as a table whose keys are in ``allowed`` (any key when None)."""
    if not isinstance(value, dict):
        raise BadPolicy(f"{where} must be a table")
    extra = set(value) - allowed if allowed is not None else set()
    if extra:
        raise BadPolicy(f"{where}: unknown key {sorted(extra)[0]!r}")
    return value


def parse(text: str, source: str = "<string>") -> Policy:
    """Validate a policy's TOML text; BadPolicy names the first problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise BadPolicy(f"{source}: not valid TOML: {e}") from None
    _table(data, source, {"default", "domain"})
    default = _mode(_table(data.get("default", {"dix": "auto"}), f"{source}: [default]", {"dix"})
                    .get("dix", "auto"), f"{source}: [default]")
    doms: dict[str, tuple[str | None, dict[int, str]]] = {}
    for name, body in _table(data.get("domain", {}), f"{source}: [domain]").items():
        where = f"{source}: [domain.{name}]"
        body = _table(body, where, {"dix", "vdev"})
        mode = _mode(body["dix"], where) if "dix" in body else None
        per: dict[int, str] = {}
        for vname, vbody in _table(body.get("vdev", {}), f"{where}.vdev").items():
            vwhere = f"{source}: [domain.{name}.vdev.{vname}]"
            try:
                devid = vdevs.to_devid(vname)
            except vdevs.VdevError as e:
                raise BadPolicy(f"{vwhere}: {e}") from None
            per[devid] = _mode(_table(vbody, vwhere, {"dix"}).get("dix"), vwhere)
        doms[name] = (mode, per)
    return Policy(default, doms, source)


def path_from(option: str | None) -> tuple[Path, bool]:
    """The policy path and whether it was asked for explicitly (--policy, $XENDIX_POLICY)."""
    if option:
        return Path(option), True
    if os.environ.get(ENV):
        return Path(os.environ[ENV]), True
    return DEFAULT_PATH, False


def load(option: str | None = None) -> Policy:
    """The policy in force.  A missing default file means the built-in
    ``[default] dix = "auto"``; a missing file that was named is an error."""
    path, explicit = path_from(option)
    try:
        text = path.read_text()
    except FileNotFoundError:
        if explicit:
            raise BadPolicy(f"policy file {path} does not exist") from None
        return Policy()
    except OSError as e:
        raise BadPolicy(f"cannot read policy file {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise BadPolicy(f"{path}: not UTF-8 text") from None
    return parse(text, str(path))


def decide(policy: Policy, domain: str, devid: int, disk_capable: bool | None) -> Decision:
    """on/off/auto for (domain, devid), most specific rule first; auto
    enables only a disk with a T10 profile (``disk_capable``)."""
    mode, rule = policy.default, "[default]"
    dom = policy.domains.get(domain)
    if dom:
        if dom[0]:
            mode, rule = dom[0], f"[domain.{domain}]"
        if devid in dom[1]:
            mode, rule = dom[1][devid], f"[domain.{domain}.vdev.{vdevs.name_of(devid)}]"
    enable = mode == "on" or (mode == "auto" and bool(disk_capable))
    return Decision(mode, rule, enable)
