"""The benchmark's smoke run in CI (``python -m lab run bench``): one blkfront configuration, two workloads, one repetition on
scsi_debug and NVMe pairs.  It proves that the benchmark's machinery
measures what its table reports; the numbers themselves come from the
full run (``./run bench``, i.e. ``--set full=1``), outside CI."""

from __future__ import annotations

import pytest

from lab.host import job

from .test_lab import passed

pytestmark = pytest.mark.lab

C = job.checks("bench")


@pytest.fixture(scope="module")
def bench(lab_run):
    return lab_run("bench")


def test_fio_runs_on_a_dix_and_a_plain_disk_of_each_kind(bench):
    assert passed(bench, C.DOMU_IS_UP)
    assert passed(bench, C.EVERY_RUN_COMPLETED)
    runs = bench.facts["bench_runs"]
    assert {(r["kind"], r["dix"]) for r in runs} == {
        ("scsi_debug", True), ("scsi_debug", False), ("nvme", True), ("nvme", False)}


def test_the_domu_negotiated_what_the_configuration_asked_for(bench):
    assert passed(bench, C.CONFIG_NEGOTIATED)
    assert bench.facts["negotiated"]["default"]["persistent"] == "1"


def test_dom0_counts_pairs_slots_and_pi_of_every_run(bench):
    assert passed(bench, C.PROBES_STARTED)
    assert passed(bench, C.DIX_RUNS_ARE_PAIRS)
    assert passed(bench, C.PI_BYTES_MATCH_THE_PROFILE)
    for r in bench.facts["bench_runs"]:
        assert r["ring_slots"] == r["requests"] * (2 if r["dix"] else 1)
        assert r["grant_maps"] is not None and r["dom0_cpu_s"] is not None


def test_the_report_renders_the_smoke_run(bench, tmp_path):
    from bench import report

    summary = report.load(bench.artifacts.parent / "summary.json")
    text = report.write(summary, tmp_path)
    assert "## Config `default`" in text and "4k-randwrite-qd32" in text
    assert (tmp_path / "results.json").exists() and (tmp_path / "ratios.png").exists()


def test_the_domus_and_dom0_stay_clean(bench):
    assert passed(bench, C.NO_OOPS_IN_THE_DOMUS)
    assert passed(bench, C.NO_VBD_LEFT_IN_DOM0)
    assert passed(bench, C.NO_OOPS_IN_DOM0)
