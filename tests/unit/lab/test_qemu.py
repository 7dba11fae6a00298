"""The QEMU runner: how the lab machine is put together, and that it can
never hang the caller."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from lab.host import qemu
from lab.host.errors import ConfigError


def machine(tmp_path: Path) -> qemu.Machine:
    return qemu.Machine(
        xen=tmp_path / "xen", kernel=tmp_path / "vmlinuz", initrd=tmp_path / "initrd",
        drives=[qemu.Drive(tmp_path / "root.img", "LABROOT"),
                qemu.Drive(tmp_path / "out.img", "LABOUT", snapshot=False)],
        serial_log=tmp_path / "serial.log", dom0_args="console=hvc0 a=1,2")


def test_xen_is_loaded_by_multiboot_with_dom0_as_its_first_module(tmp_path):
    argv = machine(tmp_path).argv()
    assert argv[argv.index("-kernel") + 1] == str(tmp_path / "xen")
    assert "console=com1" in argv[argv.index("-append") + 1]
    # QEMU splits -initrd on commas: commas in dom0's arguments are doubled.
    assert argv[argv.index("-initrd") + 1] == \
        f"{tmp_path / 'vmlinuz'} console=hvc0 a=1,,2,{tmp_path / 'initrd'}"


def test_the_cpu_is_qemu64_because_max_crashes_a_pv_dom0(tmp_path):
    argv = machine(tmp_path).argv()
    assert argv[argv.index("-cpu") + 1] == "qemu64"
    assert "accel=tcg" in argv[argv.index("-machine") + 1]


def test_disks_are_named_by_model_and_the_image_stays_pristine(tmp_path):
    argv = " ".join(machine(tmp_path).argv())
    assert f"file={tmp_path / 'root.img'},format=raw,if=none,id=d0,snapshot=on" in argv
    assert "ide-hd,drive=d0,bus=ide.0,unit=0,model=LABROOT" in argv
    assert f"file={tmp_path / 'out.img'},format=raw,if=none,id=d1 " in argv + " "
    assert "model=LABOUT" in argv


def test_more_than_four_disks_is_refused(tmp_path):
    m = machine(tmp_path)
    m.drives = [qemu.Drive(tmp_path / f"{i}.img", f"D{i}") for i in range(5)]
    with pytest.raises(ConfigError):
        m.argv()


def fake_qemu(tmp_path: Path, monkeypatch, body: str) -> None:
    """Put a qemu-system-x86_64 on PATH that writes to the serial log and
    then does ``body``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "qemu-system-x86_64"
    script.write_text(
        "#!/bin/sh\n"
        'for a in "$@"; do case "$a" in file:*) log=${a#file:} ;; esac; done\n'
        'echo "(XEN) Xen version 4.17" >> "$log"\n' + body + "\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def test_a_machine_that_never_powers_off_fails_at_its_bound_with_the_log_tail(tmp_path, monkeypatch):
    fake_qemu(tmp_path, monkeypatch, 'echo "lab-dom0: stuck here" >> "$log"; exec sleep 600')
    start = time.monotonic()
    with pytest.raises(qemu.LabTimeout) as err:
        qemu.run(machine(tmp_path), timeout=2)
    assert time.monotonic() - start < 10
    assert "did not power off within 2s" in str(err.value)
    assert "lab-dom0: stuck here" in str(err.value)


def test_a_crashed_dom0_fails_at_once_not_at_the_bound(tmp_path, monkeypatch):
    fake_qemu(tmp_path, monkeypatch,
              'echo "Kernel panic - not syncing: Attempted to kill init!" >> "$log"; exec sleep 600')
    start = time.monotonic()
    with pytest.raises(qemu.LabError, match="crashed"):
        qemu.run(machine(tmp_path), timeout=300)
    assert time.monotonic() - start < 30


def test_a_machine_that_powers_off_returns_its_run_time(tmp_path, monkeypatch):
    fake_qemu(tmp_path, monkeypatch, 'echo "[  9.1] reboot: Power down" >> "$log"\n'
              'echo "(XEN) Entering ACPI S5 state." >> "$log"; exit 0')
    assert 0 <= qemu.run(machine(tmp_path), timeout=30) < 30


def test_a_machine_that_resets_without_a_word_is_an_error_not_a_run(tmp_path, monkeypatch):
    # -no-reboot turns a reset (e.g. a triple fault after a device wrote
    # over memory) into QEMU exiting 0.
    fake_qemu(tmp_path, monkeypatch, 'echo "[ 299.3] protection error, dev nvme0n1" >> "$log"; exit 0')
    with pytest.raises(qemu.LabError, match="reset instead of powering off") as err:
        qemu.run(machine(tmp_path), timeout=30)
    assert "protection error, dev nvme0n1" in str(err.value)


def test_qemu_failing_is_an_error_with_its_output(tmp_path, monkeypatch):
    fake_qemu(tmp_path, monkeypatch, 'echo "qemu: could not load kernel" >&2; exit 1')
    with pytest.raises(qemu.LabError, match="could not load kernel"):
        qemu.run(machine(tmp_path), timeout=30)


def test_an_nvme_namespace_with_pi_keeps_its_metadata_in_a_separate_buffer(tmp_path):
    m = machine(tmp_path)
    m.nvme = [qemu.NvmeDisk(tmp_path / "n0.img", "dix0", pi=1, lbs=512),
              qemu.NvmeDisk(tmp_path / "n1.img", "dix1", pi=3, lbs=4096)]
    argv = m.argv()
    assert argv[argv.index(f"file={tmp_path / 'n0.img'},if=none,id=nvm0,format=raw") + 1:][:4] == [
        "-device", "nvme,serial=dix0,id=nvme0",
        "-device", "nvme-ns,drive=nvm0,bus=nvme0,nsid=1,ms=8,mset=0,pi=1,pil=0"]
    assert "nvme,serial=dix1,id=nvme1" in argv
    assert ("nvme-ns,drive=nvm1,bus=nvme1,nsid=1,ms=8,mset=0,pi=3,pil=0,"
            "logical_block_size=4096,physical_block_size=4096") in argv
    # The NVMe disks are not IDE disks: the four-disk limit does not count them.
    assert sum(a.startswith("ide-hd") for a in argv) == 2
    assert not any("throttling" in a for a in argv)


def test_an_nvme_disk_can_be_throttled_so_that_requests_queue_up(tmp_path):
    argv = qemu.NvmeDisk(tmp_path / "n.img", "dix0", iops=150).argv(0)
    assert argv[1] == f"file={tmp_path / 'n.img'},if=none,id=nvm0,format=raw,throttling.iops-total=150"


def test_a_machine_without_nvme_has_no_nvme_device(tmp_path):
    assert not any(a.startswith(("nvme", "nvme-ns")) for a in machine(tmp_path).argv())


@pytest.mark.parametrize("pi, lbs", [(4, 512), (1, 520), (1, 1024)])
def test_an_nvme_disk_qemu_or_linux_cannot_protect_is_refused(tmp_path, pi, lbs):
    with pytest.raises(ConfigError):
        qemu.NvmeDisk(tmp_path / "n.img", "dix0", pi=pi, lbs=lbs)


@pytest.mark.parametrize("lbs", [512, 4096])
def test_an_nvme_image_holds_the_data_then_ff_metadata_for_every_block(tmp_path, lbs):
    img = qemu.NvmeDisk.image(tmp_path / "n.img", 16, lbs)
    blocks = 16 * 1024 * 1024 // lbs
    assert img.stat().st_size == blocks * (lbs + 8)
    with open(img, "rb") as f:
        assert f.read(4096) == bytes(4096)
        f.seek(blocks * lbs - 8)
        assert f.read(16) == bytes(8) + b"\xff" * 8
        f.seek(blocks * lbs)
        assert set(f.read()) == {0xFF}


def test_a_dom0_cpu_stuck_for_minutes_fails_at_once_not_at_the_bound(tmp_path, monkeypatch):
    fake_qemu(tmp_path, monkeypatch,
              'echo "[ 1066.8] watchdog: BUG: soft lockup - CPU#1 stuck for 983s! [ksoftirqd/1:21]"'
              ' >> "$log"; exec sleep 600')
    start = time.monotonic()
    with pytest.raises(qemu.LabError, match="soft lockup - CPU#1 stuck for 983s"):
        qemu.run(machine(tmp_path), timeout=300)
    assert time.monotonic() - start < 30


def test_a_vcpu_delayed_for_seconds_on_a_busy_host_is_not_fatal(tmp_path):
    log = tmp_path / "serial.log"
    log.write_text("[ 416.2] watchdog: BUG: soft lockup - CPU#0 stuck for 23s! [python3:812]\n")
    assert qemu.fatal_marker(log) == ""


def test_our_code_is_reached_once_dom0_init_loaded_the_backend(tmp_path):
    log = tmp_path / "serial.log"
    log.write_text("lab-dom0: up after 70.86s\n")
    assert not qemu.reached_our_code(log)
    log.write_text("lab-dom0: up after 70.86s\nlab-dom0: backend loaded: patched\n")
    assert qemu.reached_our_code(log)
    assert not qemu.reached_our_code(tmp_path / "missing.log")
