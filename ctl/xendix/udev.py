"""The udev rule that runs ``xendix apply`` for each new vbd backend.

The rule's RUN value goes through three parsers, and every path in it is
written for all three: udev's rule parser (``\\"`` for a double quote),
udev's substitution (``$$`` and ``%%`` for a literal ``$`` and ``%``) and
udev's argv split, which unquotes like sh: each word is quoted with
:func:`shlex.quote`.  A path with a control character cannot be written.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from . import policy as policies
from .errors import USAGE, XendixError
from .host import Host

RULE_NAME = "65-xendix.rules"
RULES_DIR = Path("etc/udev/rules.d")
LIVE_ROOT = Path("/")  # the running system: udev is reloaded and the command checked only there
RELOAD = ["udevadm", "control", "--reload"]
RELOAD_TIMEOUT = 30.0
_KERNEL = "\0kernel\0"  # stands for udev's $kernel until the value is escaped


class BadOption(XendixError):
    """A command line value that cannot go into the rule: one line, exit 2."""

    exit_code = USAGE


@dataclass(frozen=True)
class Installed:
    path: Path
    argv: tuple[str, ...]
    reloaded: bool

    @property
    def command(self) -> str:
        return shlex.join(self.argv)


def rule_template() -> str:
    """The rule as shipped in the package (xendix/data/65-xendix.rules)."""
    return resources.files("xendix").joinpath("data", RULE_NAME).read_text()


def default_command() -> list[str]:
    """An absolute command for udev's RUN: the installed ``xendix`` script if
    there is one, else this Python with this package on its path."""
    script = shutil.which("xendix")
    if script and Path(script).is_absolute():
        return [script]
    pkg_parent = Path(__file__).resolve().parent.parent
    return ["/usr/bin/env", f"PYTHONPATH={pkg_parent}", sys.executable, "-m", "xendix"]


def _writable(option: str, value: str) -> str:
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise BadOption(f"{option} {value!r}: a control character cannot be written in a udev rule")
    return value


def _absolute(option: str, value: str) -> str:
    if not os.path.isabs(_writable(option, value)):
        raise BadOption(f"{option} must be an absolute path (udev runs the rule from /): {value!r}")
    return value


def command_argv(command: str | None) -> list[str]:
    """``--command`` split like sh (quote a path with spaces); its program
    must be absolute: udev looks for a relative one in /usr/lib/udev."""
    if command is None:
        return default_command()
    try:
        argv = shlex.split(_writable("--command", command))
    except ValueError as e:
        raise BadOption(f"--command {command!r}: {str(e).lower()}") from None
    if not argv:
        raise BadOption("--command is empty")
    if not os.path.isabs(argv[0]):
        raise BadOption(f"--command must start with an absolute path (udev looks for "
                        f"{argv[0]!r} in /usr/lib/udev): {command!r}")
    return argv


def run_value(argv: list[str], policy: str | None = None, log: str | None = None) -> str:
    """The RUN value, escaped for the rule file: ``argv apply --keep-existing
    [--policy P] $kernel``, through ``/bin/sh -c '... >>LOG 2>&1'`` with a log."""
    words = [*argv, "apply", "--keep-existing"] + (["--policy", policy] if policy else [])
    run = f"{shlex.join(words)} {_KERNEL}"
    if log:
        run = shlex.join(["/bin/sh", "-c", f"{run} >>{shlex.quote(log)} 2>&1"])
    run = run.replace("$", "$$").replace("%", "%%").replace(_KERNEL, "$kernel")
    return run.replace('"', '\\"')


def render(argv: list[str], policy: str | None = None, log: str | None = None) -> str:
    """The rule text for ``argv``; ``--policy`` pinned if given; with ``log``,
    the output appended to that file."""
    return rule_template().replace("@RUN@", run_value(argv, policy, log))


def _check_live(argv: list[str], policy: str | None) -> None:
    """On the running system: the program runs, udevadm is there, the pinned policy is valid."""
    if not (os.path.isfile(argv[0]) and os.access(argv[0], os.X_OK)):
        raise BadOption(f"--command {argv[0]!r} is not an executable file")
    if shutil.which(RELOAD[0]) is None:
        raise XendixError(f"{RELOAD[0]} not found: is udev installed? (nothing written)")
    if policy:
        policies.load(policy)


def _write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a temporary file renamed)."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text)
        tmp.chmod(0o644)
        tmp.replace(path)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        where = f"{e.filename}: " if e.filename and str(e.filename) != str(path) else ""
        raise XendixError(f"cannot write {path}: {where}{e.strerror or e}") from None


def _reload(host: Host) -> None:
    try:
        done = host.run(RELOAD, timeout=RELOAD_TIMEOUT)
    except (OSError, subprocess.SubprocessError) as e:
        raise XendixError(f"rule installed, but {' '.join(RELOAD)} failed: {e}") from None
    if done.returncode != 0:
        why = (done.stderr or "").strip().splitlines()
        raise XendixError(f"rule installed, but {' '.join(RELOAD)} failed "
                          f"(exit {done.returncode}){': ' + why[-1] if why else ''}")


def install(host: Host, prefix: str = "/", command: str | None = None,
            policy: str | None = None, log: str | None = None) -> Installed:
    """Write the rule under ``prefix``; on the live system, reload udev.
    The options first (as click would), then root and dom0 like every
    command, then the system: nothing is written when a check fails."""
    argv = command_argv(command)
    policy = _absolute("--policy", policy) if policy else None
    log = _absolute("--log", log) if log else None
    root = Path(_writable("--prefix", prefix))
    host.preflight()
    if not root.is_dir():
        raise BadOption(f"--prefix {prefix}: not a directory")
    live = root.resolve() == LIVE_ROOT.resolve()
    if live:
        _check_live(argv, policy)
    path = root / RULES_DIR / RULE_NAME
    _write(path, render(argv, policy, log))
    if live:
        _reload(host)
    return Installed(path, tuple(argv), live)
