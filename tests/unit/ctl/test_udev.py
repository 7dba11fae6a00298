"""xendix udev install: the shipped rule, filled in, quoted for udev, installed
only by root in dom0, and every failure one line."""

from __future__ import annotations

import json
import re
import shlex
import stat
import subprocess
import sys

import pytest
from click.testing import CliRunner

from xendix import errors, udev
from xendix.cli import main

RULE = "etc/udev/rules.d/65-xendix.rules"
ODD = "it's a \"dir\" with $HOME, %k and \\ in it"  # every character the rule must protect


def install(host, *args):
    return CliRunner().invoke(main, ["udev", "install", *args], obj=host)


def one_line(r, code: int) -> str:
    """The single ``xendix: ...`` line a failure prints, after checking its code."""
    assert r.exit_code == code, r.output
    assert r.output.startswith("xendix: ") and r.output.count("\n") == 1, r.output
    assert "Traceback" not in r.output and isinstance(r.exception, SystemExit)
    return r.output.strip()


def run_line(rule: str) -> str:
    (line,) = [l for l in rule.splitlines() if l and not l.startswith("#")]
    return line


def udev_argv(rule: str, kernel: str) -> list[str]:
    """What udev runs for ``rule``: its rule parser takes the RUN value (``\\"``
    is a quote), substitution makes $kernel the device name ($$ and %% are $
    and %), and the command line is split like sh (systemd's
    extract_first_word with EXTRACT_UNQUOTE|EXTRACT_RETAIN_ESCAPE)."""
    line = run_line(rule)
    start = line.index('RUN+="') + len('RUN+="')
    value, i = [], start
    while line[i] != '"':
        if line[i] == "\\" and line[i + 1] == '"':
            i += 1
        value.append(line[i])
        i += 1
    assert line[i + 1:] == "", "the RUN value ends the line"
    subst = re.sub(r"\$kernel|\$\$|%%|%k", lambda m: {"$$": "$", "%%": "%"}.get(m[0], kernel),
                   "".join(value))
    return shlex.split(subst)


def test_the_rule_runs_apply_for_each_new_vbd_backend(tmp_path, host):
    r = install(host, "--prefix", str(tmp_path), "--command", "/usr/bin/xendix")
    assert r.exit_code == 0, r.output
    rule = (tmp_path / RULE).read_text()
    assert run_line(rule) == ('SUBSYSTEM=="xen-backend", KERNEL=="vbd-*", ACTION=="add", '
                              'RUN+="/usr/bin/xendix apply --keep-existing $kernel"')
    assert stat.S_IMODE((tmp_path / RULE).stat().st_mode) == 0o644
    assert host.run.calls == []  # not the live system: no reload


def test_policy_and_log_are_pinned_in_the_rule():
    text = udev.render(["/usr/bin/xendix"], policy="/etc/p.toml", log="/run/x.log")
    assert ("RUN+=\"/bin/sh -c '/usr/bin/xendix apply --keep-existing --policy /etc/p.toml $kernel "
            ">>/run/x.log 2>&1'\"") in text


def test_every_path_round_trips_through_the_rule(tmp_path, host):
    """Spaces, both quotes, $, % and a backslash in the command, the policy and the log."""
    cmd = ["/opt/x dix/bin/xendix", f"--tag={ODD}"]
    r = install(host, "--prefix", str(tmp_path), "--command", shlex.join(cmd),
                "--policy", f"/etc/{ODD}/p.toml")
    assert r.exit_code == 0, r.output
    assert udev_argv((tmp_path / RULE).read_text(), "vbd-1-51728") == [
        *cmd, "apply", "--keep-existing", "--policy", f"/etc/{ODD}/p.toml", "vbd-1-51728"]


def test_with_a_log_udev_runs_sh_and_apply_gets_every_word(tmp_path, host):
    """The log's sh -c line, run for real: the command sees its argv intact
    and its output lands in a log whose name has spaces and quotes."""
    bindir = tmp_path / ODD
    bindir.mkdir()
    fake = bindir / "xendix"
    fake.write_text(f"#!{sys.executable}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    fake.chmod(0o755)
    log = tmp_path / f"log {ODD}.txt"
    r = install(host, "--prefix", str(tmp_path), "--command", shlex.quote(str(fake)),
                "--policy", f"/etc/{ODD}.toml", "--log", str(log))
    assert r.exit_code == 0, r.output
    argv = udev_argv((tmp_path / RULE).read_text(), "vbd-1-51728")
    assert argv[:2] == ["/bin/sh", "-c"]
    subprocess.run(argv, check=True, timeout=30)
    assert json.loads(log.read_text()) == ["apply", "--keep-existing", "--policy",
                                           f"/etc/{ODD}.toml", "vbd-1-51728"]


def test_without_an_installed_script_udev_runs_this_python_on_this_package(monkeypatch):
    monkeypatch.setattr(udev.shutil, "which", lambda name: None)
    cmd = udev.default_command()
    assert cmd[0] == "/usr/bin/env" and cmd[1].startswith("PYTHONPATH=") and cmd[-2:] == ["-m", "xendix"]


# -- refused in one line --------------------------------------------------------

def test_not_root_is_refused_before_anything_is_written(tmp_path, host):
    host.euid = lambda: 1000
    assert one_line(install(host, "--prefix", str(tmp_path)), errors.NOT_ROOT) == (
        "xendix: must be run as root")
    assert not (tmp_path / "etc").exists()


def test_outside_dom0_is_refused(tmp_path, host, proc):
    (proc / "xen" / "capabilities").write_text("\n")
    assert one_line(install(host, "--prefix", str(tmp_path)), errors.NOT_DOM0).startswith(
        "xendix: not dom0")
    assert not (tmp_path / "etc").exists()


@pytest.mark.parametrize("args, says", [
    (["--command", "xendix"], "--command must start with an absolute path"),
    (["--command", "bin/xendix apply"], "--command must start with an absolute path"),
    (["--command", ""], "--command is empty"),
    (["--command", "/usr/bin/xendix 'unclosed"], "no closing quotation"),
    (["--command", "/usr/bin/xen\ndix"], "a control character cannot be written"),
    (["--policy", "policy.toml"], "--policy must be an absolute path"),
    (["--log", "x.log"], "--log must be an absolute path"),
])
def test_a_bad_option_is_a_usage_error_in_one_line(tmp_path, host, args, says):
    line = one_line(install(host, "--prefix", str(tmp_path), *args), errors.USAGE)
    assert says in line
    assert not (tmp_path / "etc").exists()


def test_a_usage_error_comes_before_the_root_check(tmp_path, host):
    host.euid = lambda: 1000
    one_line(install(host, "--prefix", str(tmp_path), "--command", "xendix"), errors.USAGE)


def test_a_prefix_that_cannot_hold_the_rule_is_one_line(tmp_path, host):
    assert "xendix: cannot write /proc/etc/udev/rules.d/65-xendix.rules" in one_line(
        install(host, "--prefix", "/proc", "--command", "/usr/bin/xendix"), errors.GENERIC)
    (tmp_path / "etc").write_text("a file where a directory goes")
    assert one_line(install(host, "--prefix", str(tmp_path), "--command", "/usr/bin/xendix"),
                    errors.GENERIC).startswith(f"xendix: cannot write {tmp_path / RULE}")
    assert one_line(install(host, "--prefix", str(tmp_path / "none")), errors.USAGE) == (
        f"xendix: --prefix {tmp_path / 'none'}: not a directory")


# -- the live system --------------------------------------------------------------

@pytest.fixture
def live(tmp_path, monkeypatch):
    """``tmp_path`` stands for /: the command is checked and udev reloaded."""
    monkeypatch.setattr(udev, "LIVE_ROOT", tmp_path)
    fake = tmp_path / "xendix"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    return tmp_path


def test_on_the_live_system_udev_is_reloaded(live, host):
    r = install(host, "--prefix", str(live), "--command", str(live / "xendix"))
    assert r.exit_code == 0, r.output
    assert r.output.strip().endswith("; udev reloaded")
    assert host.run.calls == [udev.RELOAD]


def test_without_udevadm_nothing_is_written(live, host, monkeypatch):
    real = udev.shutil.which
    monkeypatch.setattr(udev.shutil, "which", lambda name: None if name == "udevadm" else real(name))
    assert one_line(install(host, "--prefix", str(live), "--command", str(live / "xendix")),
                    errors.GENERIC) == "xendix: udevadm not found: is udev installed? (nothing written)"
    assert not (live / "etc").exists()


def test_a_reload_that_fails_is_one_line(live, host):
    host.run.results["control"] = (1, "Failed to send reload request: No such file\n")
    assert one_line(install(host, "--prefix", str(live), "--command", str(live / "xendix")),
                    errors.GENERIC) == ("xendix: rule installed, but udevadm control --reload failed "
                                        "(exit 1): Failed to send reload request: No such file")


def test_a_command_that_is_not_there_is_refused_on_the_live_system(live, host):
    assert "is not an executable file" in one_line(
        install(host, "--prefix", str(live), "--command", "/usr/bin/xendx"), errors.USAGE)


def test_a_pinned_policy_that_is_broken_is_refused_on_the_live_system(live, host):
    bad = live / "p.toml"
    bad.write_text('[default]\ndix = "maybe"\n')
    assert "dix must be one of" in one_line(
        install(host, "--prefix", str(live), "--command", str(live / "xendix"), "--policy", str(bad)),
        errors.BAD_POLICY)
    assert not (live / "etc").exists()
