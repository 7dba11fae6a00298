"""The guest-side pieces that can run on the host: the console protocol
between domU and dom0, the record helper and the I/O tool."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from lab.host import job

def test_tagged_console_lines_become_records_logs_and_dmesg(labguest):
    run = labguest.DomuRun("g")
    labguest.parse_console(
        "Linux version 6.1\r\n"
        '@@LAB@@ {"record": "io", "op": "write", "ok": true}\r\n'
        "[    3.1] xen_blkfront: a line printed in between\r\n"
        "@@LOG@@ script said hello\r\n"
        "@@DMESG@@ [    2.0] blkfront: xvdb: flush diskcache: enabled\r\n"
        "@@LAB-END@@ 0\r\n", run)
    assert run.records == [{"record": "io", "op": "write", "ok": True}]
    assert run.script_log == ["script said hello"]
    assert run.dmesg == ["[    2.0] blkfront: xvdb: flush diskcache: enabled"]
    assert run.finished and run.record("io")[0]["op"] == "write"


def test_a_domu_without_an_end_line_has_not_finished(labguest):
    run = labguest.DomuRun("g")
    labguest.parse_console('@@LAB@@ {"record": "x"}\n', run)
    assert not run.finished


def test_a_broken_record_is_kept_as_log_not_lost(labguest):
    run = labguest.DomuRun("g")
    labguest.parse_console("@@LAB@@ {not json\n@@LAB-END@@ 1\n", run)
    assert run.records == [] and run.exit_status == 1
    assert run.script_log == ["unparsable record: {not json"]


@pytest.mark.parametrize("line, bad", [
    ("[ 1.0] WARNING: CPU: 0 PID: 1 at block/blk-core.c:1 x", True),
    ("[ 1.0] BUG: unable to handle page fault", True),
    ("[ 1.0] Oops: 0000 [#1] SMP", True),
    ("[ 1.0] blkfront: xvdb: barrier or flush: disabled", False),
])
def test_kernel_problems_are_bug_warning_and_oops(labguest, line, bad):
    assert bool(labguest.kernel_log_problems(line)) is bad


def test_rec_writes_one_json_object_a_line(tmp_path):
    out = tmp_path / "rec"
    subprocess.run(["sh", "-c", f'. {job.DOMU}/lablib.sh; rec xvdb present=true size=131072 '
                    'format=T10-DIF-TYPE1-CRC note="a \\"quoted\\" word" neg=-3'],
                   env={"LAB_REC": str(out), "PATH": "/usr/bin:/bin"}, check=True)
    assert json.loads(out.read_text()) == {
        "record": "xvdb", "present": True, "size": 131072, "format": "T10-DIF-TYPE1-CRC",
        "note": 'a "quoted" word', "neg": -3}


@pytest.fixture(scope="module")
def labio():
    return job.labio()


def io(labio: Path, *args: str) -> tuple[int, dict]:
    proc = subprocess.run([str(labio), *args], capture_output=True, text=True)
    return proc.returncode, json.loads(proc.stdout)


def test_labio_writes_a_pattern_that_reads_back_with_any_block_size(labio, tmp_path):
    dev = tmp_path / "disk"
    dev.write_bytes(bytes(2 << 20))
    rc, rec = io(labio, "write", str(dev), "0", "1048576", "65536", "42")
    assert rc == 0 and rec["ok"] and rec["ios"] == 16
    rc, rec = io(labio, "verify", str(dev), "0", "1048576", "4096", "42")
    assert rc == 0 and rec["ok"] and rec["ios"] == 256


def test_labio_reports_where_the_data_differs(labio, tmp_path):
    dev = tmp_path / "disk"
    dev.write_bytes(bytes(1 << 20))
    io(labio, "write", str(dev), "0", "1048576", "4096", "7")
    data = bytearray(dev.read_bytes())
    data[8192 + 17] ^= 0xFF
    dev.write_bytes(bytes(data))
    rc, rec = io(labio, "verify", str(dev), "0", "1048576", "4096", "7")
    assert rc == 1 and not rec["ok"] and rec["mismatch_at"] == 8192 + 16


def test_labio_names_the_errno_of_a_failed_io(labio, tmp_path):
    rc, rec = io(labio, "verify", str(tmp_path / "missing"), "0", "4096", "4096", "1")
    assert rc == 1 and rec["errno"] == 2 and not rec["ok"]


def test_labio_refuses_unaligned_sizes(labio, tmp_path):
    proc = subprocess.run([str(labio), "write", str(tmp_path / "d"), "0", "1000", "1000", "1"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "multiples of 512" in proc.stderr


@pytest.mark.parametrize("bs, depth", [(65536, 24), (4096, 1), (1048576, 4)])
def test_labio_keeps_depth_ios_in_flight_with_aio_and_still_verifies(labio, tmp_path, bs, depth):
    dev = tmp_path / "disk"
    dev.write_bytes(bytes(4 << 20))
    rc, rec = io(labio, "write", str(dev), "0", str(4 << 20), str(bs), "9", str(depth))
    assert rc == 0 and rec["ok"] and rec["ios"] == (4 << 20) // bs and rec["depth"] == depth
    rc, rec = io(labio, "verify", str(dev), "0", str(4 << 20), str(bs), "9", str(depth))
    assert rc == 0 and rec["ok"] and rec["ios"] == (4 << 20) // bs
    # A regular file has no /sys/block/NAME/inflight to sample.
    assert rec["max_inflight"] == -1


def test_labio_aio_reports_the_lowest_mismatch(labio, tmp_path):
    dev = tmp_path / "disk"
    dev.write_bytes(bytes(1 << 20))
    io(labio, "write", str(dev), "0", "1048576", "65536", "3", "8")
    data = bytearray(dev.read_bytes())
    data[700000] ^= 1
    data[300000] ^= 1
    dev.write_bytes(bytes(data))
    rc, rec = io(labio, "verify", str(dev), "0", "1048576", "65536", "3", "16")
    assert rc == 1 and rec["mismatch_at"] == 300000 // 8 * 8


def test_labio_refuses_a_zero_depth(labio, tmp_path):
    proc = subprocess.run([str(labio), "write", str(tmp_path / "d"), "0", "4096", "4096", "1", "0"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "DEPTH" in proc.stderr


def test_blkfront_parameters_reach_the_domu_kernel_command_line(labguest):
    assert labguest.front_params_arg(None) == ""
    assert labguest.front_params_arg({"max_indirect_segments": 256, "max_ring_page_order": 1}) == \
        " lab.frontparams=max_indirect_segments=256,max_ring_page_order=1"
    with pytest.raises(ValueError):
        labguest.front_params_arg({"a": "1 lab.script=evil"})


def test_domu_init_hands_the_parameters_to_xen_blkfront_only(tmp_path):
    # domu-init's own parsing, run on a fake /proc/cmdline.
    init = (job.DOMU / "domu-init").read_text()
    parse = init[init.index("arg() {"):init.index("script=$(arg script)")]
    cmdline = tmp_path / "cmdline"
    cmdline.write_text("console=hvc0 lab.script=x.sh lab.front=patched "
                       "lab.frontparams=max_indirect_segments=256,max_ring_page_order=1\n")
    out = subprocess.run(["sh", "-c", parse.replace("/proc/cmdline", str(cmdline))
                          + "arg front; arg frontparams | tr ',' ' '"],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == ["patched", "max_indirect_segments=256 max_ring_page_order=1"]
    assert '*/xen-blkfront.ko) set -- $params' in init


def test_vbd_names_come_from_one_place(labguest):
    assert labguest.XVDB == labguest.devid("xvdb") == 51728
    assert labguest.backend_dir(7) == "/local/domain/0/backend/vbd/7/51728"
    assert labguest.frontend_dir(7, labguest.devid("xvdc")) == "/local/domain/7/device/vbd/51744"
    assert labguest.vbd_name(7) == "vbd-7-51728"


def test_a_lean_disk_uses_the_hotplug_script_shipped_beside_labguest(labguest):
    spec = labguest.lean_disk("/dev/sdd", "xvdb")
    script = spec.split("script=")[1].split(",")[0]
    assert Path(script) == job.DOM0 / "vbd-hotplug" and Path(script).stat().st_mode & 0o111
    assert spec == f"format=raw,vdev=xvdb,access=rw,script={script},target=/dev/sdd"


def test_the_domu_kernel_keeps_its_messages_off_the_console_the_records_use(labguest, tmp_path,
                                                                           monkeypatch):
    # A kernel message printed while a record is on its way splits the
    # record's line; the kernel log comes whole at the end instead.
    monkeypatch.setattr(labguest.domu, "Path", lambda p: tmp_path)
    cfg = labguest.domu_config("d", [], "x.sh", "patched", 128)
    extra = [l for l in cfg.read_text().splitlines() if l.startswith("extra")][0]
    assert "console=hvc0" in extra and " loglevel=1 " in extra
