"""xendix udev install: the shipped rule, filled in and installed."""

from click.testing import CliRunner

from xendix import udev
from xendix.cli import main


def test_the_rule_runs_apply_for_each_new_vbd_backend(tmp_path, host):
    r = CliRunner().invoke(main, ["udev", "install", "--prefix", str(tmp_path),
                                  "--command", "/usr/bin/xendix"], obj=host)
    assert r.exit_code == 0, r.output
    rule = (tmp_path / "etc/udev/rules.d/65-xendix.rules").read_text()
    (line,) = [l for l in rule.splitlines() if l and not l.startswith("#")]
    assert line == ('SUBSYSTEM=="xen-backend", KERNEL=="vbd-*", ACTION=="add", '
                    'RUN+="/usr/bin/xendix apply --keep-existing $kernel"')
    assert host.run.calls == []  # not the live system: no reload


def test_policy_and_log_are_pinned_in_the_rule():
    text = udev.render("/usr/bin/xendix", policy="/etc/p.toml", log="/run/x.log")
    assert ("RUN+=\"/bin/sh -c '/usr/bin/xendix apply --keep-existing --policy /etc/p.toml $kernel "
            ">>/run/x.log 2>&1'\"") in text


def test_without_an_installed_script_udev_runs_this_python_on_this_package(monkeypatch):
    monkeypatch.setattr(udev.shutil, "which", lambda name: None)
    cmd = udev.default_command()
    assert cmd.startswith("/usr/bin/env PYTHONPATH=") and cmd.endswith(" -m xendix")
