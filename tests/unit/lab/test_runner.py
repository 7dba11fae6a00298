"""The runner boots a machine once more only when it died before our code
ran; any failure after that is a result."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.host import qemu, runner


def machine(tmp_path: Path) -> qemu.Machine:
    return qemu.Machine(xen=tmp_path / "xen", kernel=tmp_path / "vmlinuz",
                        initrd=tmp_path / "initrd", drives=[], serial_log=tmp_path / "serial.log")


def boots(monkeypatch, tmp_path: Path, outcomes: list[str]) -> list[float]:
    """Make qemu.run write each outcome's serial log in turn: 'early' dies
    before the backend is loaded, 'late' dies after it, 'ok' powers off."""
    calls: list[float] = []

    def fake_run(m: qemu.Machine, timeout: float) -> float:
        calls.append(timeout)
        outcome = outcomes[len(calls) - 1]
        loaded = "" if outcome == "early" else qemu.BACKEND_LOADED + ": patched\n"
        m.serial_log.write_text(f"lab-dom0: up after 70s\n{loaded}")
        if outcome == "ok":
            return 300.0
        raise qemu.LabError(f"the lab machine crashed ({outcome})")

    monkeypatch.setattr(qemu, "run", fake_run)
    return calls


def test_a_machine_that_dies_in_debians_code_is_booted_once_more(tmp_path, monkeypatch, capsys):
    calls = boots(monkeypatch, tmp_path, ["early", "ok"])
    assert runner.boot(machine(tmp_path), 600) == (300.0, 1)
    assert calls == [780, 780]
    assert "before loading our backend" in capsys.readouterr().err
    assert (tmp_path / "serial-first-boot.log").exists()


def test_only_once(tmp_path, monkeypatch):
    calls = boots(monkeypatch, tmp_path, ["early", "early"])
    with pytest.raises(qemu.LabError):
        runner.boot(machine(tmp_path), 600)
    assert len(calls) == 2


def test_a_machine_that_dies_after_loading_our_backend_fails_at_once(tmp_path, monkeypatch):
    calls = boots(monkeypatch, tmp_path, ["late", "ok"])
    with pytest.raises(qemu.LabError, match="late"):
        runner.boot(machine(tmp_path), 600)
    assert len(calls) == 1


def test_a_healthy_machine_boots_once(tmp_path, monkeypatch):
    calls = boots(monkeypatch, tmp_path, ["ok"])
    assert runner.boot(machine(tmp_path), 600) == (300.0, 0)
    assert len(calls) == 1
