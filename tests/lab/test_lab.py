"""The lab itself: our rebuilt drivers boot under Xen and carry I/O, our
patches reach the guests, and nothing in the lab can hang CI."""

from __future__ import annotations

import difflib
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from . import debian, kmod, qemu, runner

pytestmark = pytest.mark.lab


def passed(result: runner.LabResult, check: str) -> bool:
    c = result.check(check)
    assert c["ok"], f"{check}: {c}\nartifacts: {result.artifacts}"
    return True


class TestSmoke:
    """Stock drivers rebuilt out of tree, plain I/O from a PV domU."""

    def test_dom0_runs_our_blkback_not_debians(self, lab_run):
        assert passed(lab_run("smoke"), "dom0 runs our xen-blkback, not Debian's")

    def test_the_domu_sees_xvdb_on_a_dix_disk(self, lab_run):
        r = lab_run("smoke")
        assert passed(r, "the domU sees /dev/xvdb")
        assert r.facts["backing_integrity"]["format"] == "T10-DIF-TYPE1-CRC"

    def test_1mib_written_with_o_direct_reads_back_identical(self, lab_run):
        r = lab_run("smoke")
        assert passed(r, "1 MiB of random data written with O_DIRECT")
        assert passed(r, "the data reads back identical")
        assert r.check("the data reads back identical")["record"]["size"] == 1048576

    def test_the_vbd_is_gone_after_the_domu(self, lab_run):
        assert passed(lab_run("smoke"), "after the domU is gone, no vbd is left in dom0")

    def test_no_bug_warning_or_oops_in_either_kernel(self, lab_run):
        r = lab_run("smoke")
        assert passed(r, "no BUG, WARNING or Oops in the domU's kernel log")
        assert passed(r, "no BUG, WARNING or Oops in dom0's kernel log")

    def test_boot_to_result_time_is_recorded(self, lab_run):
        t = lab_run("smoke").timings
        assert 0 < t["dom0_uptime_init_s"] < t["dom0_uptime_toolstack_s"] < t["qemu_s"]


def series_with_hello(tmp_path: Path, token: str) -> Path:
    """patches/6.1 plus one more patch that makes blkfront say ``token``."""
    series = tmp_path / "patches"
    shutil.copytree(runner.REPO / "patches" / "6.1", series) if (
        runner.REPO / "patches" / "6.1").is_dir() else series.mkdir()
    tree = tmp_path / "tree"
    subprocess.run([str(runner.REPO / "kmod" / "xendix-kbuild"), "--series", "6.1",
                    "--patch-dir", str(series), "--build-dir", str(tree), "--extract-only"],
                   check=True, capture_output=True)
    path = "drivers/block/xen-blkfront.c"
    old = (tree / path).read_text().splitlines(keepends=True)
    anchor = next(i for i, line in enumerate(old) if line.startswith("static int __init xlblk_init(void)"))
    body = anchor + 2  # after the opening brace
    while old[body].strip():  # after the local declarations
        body += 1
    new = old[:body] + [f'\tpr_info("blkfront: {token}\\n");\n'] + old[body:]
    diff = "".join(difflib.unified_diff(old, new, f"a/{path}", f"b/{path}"))
    (series / "9999-lab-say-hello.patch").write_text(
        "From: lab <lab@localhost>\nSubject: [PATCH] lab: say hello\n\n---\n" + diff)
    return series


def test_a_patch_in_the_series_shows_up_in_the_domu_log(tmp_path):
    token = f"xen-dix lab hello {secrets.token_hex(4)}"
    result = runner.run("smoke", "6.1", artifacts=tmp_path / "run",
                        patch_dir=series_with_hello(tmp_path, token))
    assert any(token in line for line in result.facts["domu_blkfront_messages"]), \
        result.facts["domu_blkfront_messages"]


def test_a_domu_that_never_answers_is_cut_off_at_its_bound(lab_run):
    r = lab_run("hung-domu")
    for c in r.checks:
        assert c["ok"], c


def test_a_dom0_scenario_that_never_finishes_fails_within_its_bound():
    start = time.monotonic()
    with pytest.raises(qemu.LabError, match="exit status 124"):
        runner.run("hung-dom0")
    # 15 s of scenario plus boot and shutdown, far from any CI limit.
    assert time.monotonic() - start < 15 + 180


def test_the_same_lab_boots_the_612_series(lab_run):
    """Debian 12's other kernel: Xen + a 6.12 dom0 and domU, our 6.12 builds."""
    r = lab_run("smoke", "6.12")
    assert r.abi.startswith("6.12.")
    for c in r.checks:
        assert c["ok"], c
