"""The lab itself: our rebuilt drivers boot under Xen and carry I/O, the
checkout's patches are what boots, and nothing in the lab can hang CI."""

from __future__ import annotations

import hashlib
import shutil
import time

import pytest

from lab.host import debian, job, kmod, qemu, runner

pytestmark = pytest.mark.lab

C = job.checks("dix")  # the pipeline's checks run in the dix scenario
HUNG = job.checks("hung-domu")


def passed(result: runner.LabResult, check: str) -> bool:
    c = result.check(check)
    assert c["ok"], f"{check}: {c}\nartifacts: {result.artifacts}"
    return True


@pytest.fixture(scope="module")
def pipeline(lab_run, series):
    """The pipeline checks run first in the dix scenario's boot."""
    return lab_run("dix", series)


def series_digest(series: str) -> str:
    """kmod/xendix-kbuild's digest of the checkout's series: the first 12
    hex digits of sha256 over the applied patch files, in order."""
    files = kmod.patch_files(series)
    return hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:12]


class TestPipeline:
    """Our builds of the checkout's series boot under Xen and carry I/O."""

    def test_the_modules_that_boot_carry_the_checkouts_series(self, pipeline):
        # The README's build plus blkback's fault injection, which the lab uses.
        want = (f"series={pipeline.series} patches={len(kmod.patch_files(pipeline.series))} "
                f"sha256={series_digest(pipeline.series)} fault-injection=yes")
        assert pipeline.facts["series_modinfo"] == {"xen-blkback": want, "xen-blkfront": want}

    def test_dom0_runs_our_blkback_and_the_domu_our_blkfront(self, pipeline):
        assert passed(pipeline, C.DOM0_RUNS_OUR_BLKBACK)
        assert passed(pipeline, C.DOMU_RUNS_OUR_BLKFRONT)

    def test_the_domu_sees_xvdb_on_a_dix_disk(self, pipeline):
        assert passed(pipeline, C.DOMU_SEES_XVDB)
        assert pipeline.facts["backing_integrity"]["format"] == "T10-DIF-TYPE1-CRC"

    def test_1mib_written_with_o_direct_reads_back_identical(self, pipeline):
        assert passed(pipeline, C.WROTE_1MIB_WITH_O_DIRECT)
        assert passed(pipeline, C.DATA_READS_BACK_IDENTICAL)
        assert pipeline.check(C.DATA_READS_BACK_IDENTICAL)["record"]["size"] == 1048576

    def test_the_vbd_is_gone_after_the_domu(self, pipeline):
        assert passed(pipeline, C.NO_VBD_LEFT_AFTER_THE_DOMU)

    def test_no_bug_warning_or_oops_in_either_kernel(self, pipeline):
        assert passed(pipeline, C.NO_OOPS_IN_THE_DOMU)
        assert passed(pipeline, C.NO_OOPS_IN_DOM0)

    def test_boot_to_result_time_is_recorded(self, pipeline):
        t = pipeline.timings
        assert 0 < t["dom0_uptime_init_s"] < t["dom0_uptime_toolstack_s"] < t["qemu_s"]
        assert t["boot_retries"] in (0, 1)

    def test_the_612_series_boots_debians_612_kernel(self, pipeline):
        assert pipeline.abi.startswith(f"{pipeline.series}.")


def test_a_change_to_a_patch_makes_a_new_build(tmp_path):
    """The lab's build cache is keyed by the patches' bytes: an edited
    series is rebuilt, never served from the cache."""
    abi = debian.kernel_abi("6.1")
    series = tmp_path / "6.1"
    shutil.copytree(runner.REPO / "patches" / "6.1", series)
    before = kmod.build_key("6.1", abi, "patched", series)
    last = kmod.patch_files("6.1", series)[-1]
    last.write_text(last.read_text() + "\n")
    assert kmod.build_key("6.1", abi, "patched", series) != before
    assert kmod.build_key("6.1", abi, "stock", series) == \
        kmod.build_key("6.1", abi, "stock")


def test_a_domu_that_never_answers_is_cut_off_at_its_bound(lab_run):
    r = lab_run("hung-domu")
    assert passed(r, HUNG.SILENT_DOMU_TIMED_OUT)
    assert passed(r, HUNG.WAIT_ENDS_WITHIN_BOUND)
    assert passed(r, HUNG.SILENT_DOMU_DESTROYED)
    assert passed(r, HUNG.VBD_RELEASED)


def test_a_dom0_scenario_that_never_finishes_fails_within_its_bound():
    start = time.monotonic()
    with pytest.raises(qemu.LabError, match="exit status 124"):
        runner.run("hung-dom0")
    # 15 s of scenario plus boot and shutdown, far from any CI limit.
    assert time.monotonic() - start < 15 + 180
