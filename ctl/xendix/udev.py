"""The udev rule that runs ``xendix apply`` for each new vbd backend."""

from __future__ import annotations

import shlex
import shutil
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .host import Host

RULE_NAME = "65-xendix.rules"
RULES_DIR = Path("etc/udev/rules.d")


@dataclass(frozen=True)
class Installed:
    path: Path
    command: str
    reloaded: bool


def rule_template() -> str:
    """The rule as shipped in the package (xendix/data/65-xendix.rules)."""
    return resources.files("xendix").joinpath("data", RULE_NAME).read_text()


def default_command() -> str:
    """An absolute command for udev's RUN: the installed ``xendix`` script if
    there is one, else this Python with this package on its path."""
    script = shutil.which("xendix")
    if script and Path(script).is_absolute():
        return script
    pkg_parent = Path(__file__).resolve().parent.parent
    return f"/usr/bin/env PYTHONPATH={pkg_parent} {sys.executable} -m xendix"


def render(command: str, policy: str | None = None, log: str | None = None) -> str:
    """The rule text for ``command``; ``--policy`` pinned if given; with
    ``log``, the output appended to that file through /bin/sh."""
    run = f"{command} apply --keep-existing" + (f" --policy {shlex.quote(policy)}" if policy else "")
    run += " $kernel"
    if log:
        run = f"/bin/sh -c '{run} >>{shlex.quote(log)} 2>&1'"
    return rule_template().replace("@RUN@", run)


def install(host: Host, prefix: str = "/", command: str | None = None,
            policy: str | None = None, log: str | None = None) -> Installed:
    """Write the rule under ``prefix``; on the live system, reload udev."""
    command = command or default_command()
    path = Path(prefix) / RULES_DIR / RULE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(render(command, policy, log))
    tmp.replace(path)
    reloaded = False
    if Path(prefix).resolve() == Path("/") and shutil.which("udevadm"):
        reloaded = host.run(["udevadm", "control", "--reload"], timeout=30).returncode == 0
    return Installed(path, command, reloaded)
