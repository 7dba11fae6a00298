"""The DIX policy file: a default, per-domain and per-vdev overrides.

    [default]
    dix = "auto"            # on | off | auto (on only if the disk is capable)
    [domain.web]
    dix = "on"
    [domain.web.vdev.xvdc]
    dix = "off"

A vdev may be named several ways (xvdb, d1, 51728: one devid); two names of
one disk with different decisions are an error, not "the last one wins".
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


@dataclass(frozen=True)
class Check:
    """What ``xendix policy check`` found in one file."""

    path: Path
    problems: list[str]
    rules: int = 0  # the tables that set dix
    absent: bool = False  # the default file is missing: the built-in policy applies

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        """``policy PATH: ok (N rules)``, or one ``xendix: ...`` line per problem."""
        if self.problems:
            return [f"xendix: {p}" for p in self.problems]
        if self.absent:
            return [f'policy {self.path}: absent, the built-in default applies (dix = "auto" everywhere)']
        return [f"policy {self.path}: ok ({self.rules} rule{'' if self.rules == 1 else 's'})"]


def _mode(value: object, where: str, problems: list[str]) -> str | None:
    if isinstance(value, str) and value in MODES:
        return value
    problems.append(f"{where}: dix must be one of {', '.join(MODES)}, not {value!r}")
    return None


def _table(value: object, where: str, problems: list[str], allowed: set[str] | None = None) -> dict:
    """``value`` as a table ({} if it is none); a key not in ``allowed`` is a problem."""
    if not isinstance(value, dict):
        problems.append(f"{where} must be a table")
        return {}
    for key in sorted(set(value) - allowed) if allowed is not None else ():
        problems.append(f"{where}: unknown key {key!r}")
    return value


def _toml(text: str, source: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise BadPolicy(f"{source}: not valid TOML: {e}") from None


def _vdevs(table: dict, domain: str, source: str, problems: list[str]) -> tuple[dict[int, str], int]:
    """{devid: mode} of a domain's vdev tables, and how many there are.  Two
    names of one disk (xvdb, d1, 51728) that decide differently are a problem."""
    per: dict[int, str] = {}
    named: dict[int, str] = {}
    for vname, vbody in table.items():
        where = f"{source}: [domain.{domain}.vdev.{vname}]"
        try:
            devid = vdevs.to_devid(vname)
        except vdevs.VdevError as e:
            problems.append(f"{where}: {e}")
            continue
        mode = _mode(_table(vbody, where, problems, {"dix"}).get("dix"), where, problems)
        if mode is None:
            continue
        if devid in per and per[devid] != mode:
            problems.append(f"{where}: dix = \"{mode}\", but [domain.{domain}.vdev.{named[devid]}] "
                            f"names the same disk ({vdevs.name_of(devid)}, devid {devid}) "
                            f"with dix = \"{per[devid]}\"")
        per.setdefault(devid, mode)
        named.setdefault(devid, vname)
    return per, len(table)


def validate(data: dict, source: str) -> tuple[Policy, list[str], int]:
    """The policy in parsed TOML, every problem found in it, and how many rules it has."""
    problems: list[str] = []
    _table(data, source, problems, {"default", "domain"})
    body = _table(data.get("default", {}), f"{source}: [default]", problems, {"dix"})
    default = _mode(body["dix"], f"{source}: [default]", problems) if "dix" in body else "auto"
    rules = int("dix" in body)
    doms: dict[str, tuple[str | None, dict[int, str]]] = {}
    for name, body in _table(data.get("domain", {}), f"{source}: [domain]", problems).items():
        where = f"{source}: [domain.{name}]"
        body = _table(body, where, problems, {"dix", "vdev"})
        mode = _mode(body["dix"], where, problems) if "dix" in body else None
        per, n = _vdevs(_table(body.get("vdev", {}), f"{where}.vdev", problems), name, source, problems)
        doms[name] = (mode, per)
        rules += int("dix" in body) + n
    return Policy(default or "auto", doms, source), problems, rules


def parse(text: str, source: str = "<string>") -> Policy:
    """Validate a policy's TOML text; BadPolicy names the first problem."""
    policy, problems, _ = validate(_toml(text, source), source)
    if problems:
        more = f" (and {len(problems) - 1} more: xendix policy check)" if len(problems) > 1 else ""
        raise BadPolicy(problems[0] + more)
    return policy


def path_from(option: str | None) -> tuple[Path, bool]:
    """The policy path and whether it was asked for explicitly (--policy, $XENDIX_POLICY)."""
    if option:
        return Path(option), True
    if os.environ.get(ENV):
        return Path(os.environ[ENV]), True
    return DEFAULT_PATH, False


def read(option: str | None = None) -> tuple[Path, str | None]:
    """The policy file's path and text; None when the default file is absent
    (a missing file that was named is an error)."""
    path, explicit = path_from(option)
    try:
        return path, path.read_text()
    except FileNotFoundError:
        if explicit:
            raise BadPolicy(f"policy file {path} does not exist") from None
        return path, None
    except OSError as e:
        raise BadPolicy(f"cannot read policy file {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise BadPolicy(f"{path}: not UTF-8 text") from None


def load(option: str | None = None) -> Policy:
    """The policy in force.  A missing default file means the built-in
    ``[default] dix = "auto"``; a missing file that was named is an error."""
    path, text = read(option)
    return Policy() if text is None else parse(text, str(path))


def check(option: str | None = None) -> Check:
    """Validate a policy file without applying it: every problem, not just the first."""
    path = path_from(option)[0]
    try:
        path, text = read(option)
        if text is None:
            return Check(path, [], absent=True)
        _, problems, rules = validate(_toml(text, str(path)), str(path))
    except BadPolicy as e:
        return Check(path, [str(e)])
    return Check(path, problems, rules)


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
