"""The bench report: DIX/plain ratios over rep pairs, per-I/O medians of
each side, failed runs, targets, the three files and the command line."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from bench import report, runner
from bench.__main__ import main
from bench.report import MET, MISSED, NOT_MEASURED, Bench, BenchError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class NoLab:
    """bench.runner's subprocess in every test: the lab is never booted
    here; a test that means to run it replaces ``call``."""

    @staticmethod
    def call(argv, **kwargs):
        raise AssertionError(f"a test tried to run {argv}")


@pytest.fixture(autouse=True)
def no_lab(monkeypatch):
    monkeypatch.setattr(runner, "subprocess", NoLab)
DISKS = {"scsi_debug": {"format": "T10-DIF-TYPE1-CRC", "interval": 512, "tuple_size": 8,
                        "backing": "scsi_debug dif=1 dix=1 delay=0"},
         "nvme": {"format": "T10-DIF-TYPE1-CRC", "interval": 4096, "tuple_size": 8,
                  "backing": "QEMU nvme-ns pi=1 ms=8 lbs=4096"}}
VERSIONS = {"dom0_kernel": "6.1.0-56-amd64", "domu_kernel": "6.1.0-56-amd64", "xen": "4.17.5",
            "qemu": "7.2.19", "fio": "3.33", "series": "6.1", "xendix": "6.1 deadbeef"}


def run(workload: str = "4k-randread-qd32", kind: str = "nvme", rep: int = 0, dix: bool = False,
        iops: float | None = 1000.0, config: str = "default", ok: bool = True, **fields) -> dict:
    """One raw run as the scenario records it; 1000 I/Os in a second."""
    ios = 1000
    r = {"config": config, "config_params": {"max_indirect_segments": 32}, "kind": kind,
         "workload": workload, "rep": rep, "dix": dix, "ok": ok, "ios": ios,
         "bytes": ios * 4096, "seconds": 1.0, "iops": iops,
         "bw_bytes": None if iops is None else iops * 4096,
         "domu_cpu_s": 0.05, "dom0_cpu_s": 0.08 if dix else 0.06, "blkback_cpu_s": 0.02,
         "requests": ios, "dix_requests": ios if dix else 0,
         "ring_slots": 2 * ios if dix else ios, "max_inflight": 64 if dix else 32,
         "max_inflight_pairs": 32 if dix else 0, "grant_maps": 10, "grant_unmaps": 0,
         "data_bytes": ios * 4096, "pi_bytes": ios * 64 if dix else 0}
    r.update(fields)
    return r


def pairs(workload: str, kind: str, dix_iops: list[float], plain_iops: float = 1000.0,
          config: str = "default") -> list[dict]:
    """Interleaved runs, DIX then plain, one rep for each DIX figure."""
    return [r for rep, d in enumerate(dix_iops)
            for r in (run(workload, kind, rep, True, d, config),
                      run(workload, kind, rep, False, plain_iops, config))]


def bench(runs: list[dict], disks: dict | None = None) -> Bench:
    return Bench("6.1", dict(VERSIONS), DISKS if disks is None else disks, runs)


def group(summary: dict, workload: str = "4k-randread-qd32", kind: str = "nvme",
          config: str = "default") -> dict:
    [g] = [g for g in summary["groups"]
           if (g["config"], g["kind"], g["workload"]) == (config, kind, workload)]
    return g


def target(summary: dict, label_start: str, kind: str, config: str = "default") -> dict:
    [t] = [t for t in summary["targets"] if t["target"].startswith(label_start)
           and t["kind"] == kind and t["config"] == config]
    return t


def summary_file(folder: Path, runs: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "summary.json"
    path.write_text(json.dumps({"scenario": "bench", "series": "6.1", "facts": {
        "bench_versions": VERSIONS, "bench_disks": DISKS, "bench_runs": runs}, "checks": []}))
    return path


# -- ratios and pairing -----------------------------------------------------

def test_ratios_are_min_median_max_over_the_rep_pairs():
    g = group(report.summarize(bench(pairs("4k-randread-qd32", "nvme", [900, 1000, 950, 800]))))
    assert g["iops_ratio"] == {"min": 0.8, "median": (0.9 + 0.95) / 2, "max": 1.0, "n": 4}
    assert g["bw_ratio"] == g["iops_ratio"]
    assert g["pairs"] == 4 and g["failed"] == {"dix": 0, "plain": 0}


def test_runs_pair_by_rep_whatever_their_order():
    runs = [run(rep=0, dix=True, iops=500), run(rep=1, dix=True, iops=1800),
            run(rep=2, dix=True, iops=4000), run(rep=2, iops=4000), run(rep=0, iops=1000),
            run(rep=1, iops=2000)]
    random.Random(7).shuffle(runs)
    for p in report.pair(runs):
        assert p.dix["rep"] == p.plain["rep"] == p.rep
    g = group(report.summarize(bench(runs)))
    assert g["iops_ratio"] == {"min": 0.5, "median": 0.9, "max": 1.0, "n": 3}


def test_two_runs_of_one_side_are_refused():
    with pytest.raises(BenchError, match="two DIX runs of default nvme 4k-randread-qd32 rep 0"):
        report.pair([run(dix=True), run(dix=True)])


def test_failed_runs_are_left_out_of_the_ratios_and_counted():
    runs = pairs("4k-randread-qd32", "nvme", [900, 1000, 950])
    runs[2].update(ok=False, iops=0.0, bw_bytes=0.0)  # rep 1, DIX
    runs[5].update(ok=False)                          # rep 2, plain: its DIX run is left too
    s = report.summarize(bench(runs))
    g = group(s)
    assert g["iops_ratio"] == {"min": 0.9, "median": 0.9, "max": 0.9, "n": 1}
    assert g["failed"] == {"dix": 1, "plain": 1} and g["pairs"] == 1
    assert g["dix"]["runs"] == 2 and g["plain"]["runs"] == 2
    assert s["failed_runs"] == 2
    assert "| nvme | 4k-randread-qd32 | 1 (2 failed) | 0.900 [0.900–0.900] |" in \
        report.markdown(bench(runs), s)


def test_a_run_without_its_partner_is_unpaired():
    g = group(report.summarize(bench([run(rep=0, dix=True), run(rep=0), run(rep=1, dix=True)])))
    assert g["unpaired"] == 1 and g["iops_ratio"]["n"] == 1


# -- per-I/O medians --------------------------------------------------------

def test_each_side_has_its_per_io_medians():
    g = group(report.summarize(bench(pairs("4k-randread-qd32", "nvme", [900, 950, 1000]))))
    dix, plain = g["dix"], g["plain"]
    assert dix["dom0_us_per_io"] == pytest.approx(80.0)
    assert plain["dom0_us_per_io"] == pytest.approx(60.0)
    assert dix["domu_us_per_io"] == pytest.approx(50.0)
    assert dix["blkback_us_per_io"] == pytest.approx(20.0)
    assert (dix["slots_per_io"], plain["slots_per_io"]) == (2.0, 1.0)
    assert dix["grant_ops_per_io"] == plain["grant_ops_per_io"] == 0.01
    assert (dix["max_inflight_pairs"], plain["max_inflight"]) == (32, 32)
    assert dix["pi_percent"] == 100 * 64 / 4096
    assert "pi_percent" not in plain


def test_the_pi_floor_is_the_tag_over_the_interval():
    assert report.pi_floor_percent(DISKS["scsi_debug"]) == 1.5625
    assert report.pi_floor_percent(DISKS["nvme"]) == 0.1953125
    assert report.pi_floor_percent({"interval": 512}) is None


def test_unmeasured_numbers_read_n_a():
    runs = [run(dix=d, rep=0, iops=None, dom0_cpu_s=None, pi_bytes=None) for d in (True, False)]
    b = bench(runs, disks={})
    s = report.summarize(b)
    g = group(s)
    assert g["iops_ratio"] is None and g["dix"]["dom0_us_per_io"] is None
    json.loads(report.results_json(b, s))  # null, not NaN
    [row] = [line for line in report.markdown(b, s).splitlines() if line.startswith("| nvme |")]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[3:6] == ["n/a", "n/a", "n/a / n/a"]
    assert cells[-1] == "n/a"


# -- targets ----------------------------------------------------------------

def test_targets_are_met_missed_or_not_measured():
    runs = (pairs("1m-read", "nvme", [980, 990]) + pairs("1m-write", "nvme", [975])
            + pairs("4k-randread-qd32", "nvme", [850]) + pairs("4k-randwrite-qd32", "nvme", [950])
            + pairs("1m-read", "scsi_debug", [960]))
    s = report.summarize(bench(runs))
    assert target(s, "1 MiB", "nvme")["status"] == MET
    assert target(s, "1 MiB", "nvme")["worst"] == {"workload": "1m-write", "value": 0.975}
    assert target(s, "4k random", "nvme")["status"] == MISSED
    assert target(s, "1 MiB", "scsi_debug")["status"] == MISSED   # 1m-write unmeasured too
    assert target(s, "4k random", "scsi_debug")["status"] == NOT_MEASURED
    assert ("- **not-measured**: `default`, scsi_debug: 4k random, qd32"
            in report.markdown(bench(runs), s))


def test_a_target_measured_on_one_workload_of_two_is_not_met():
    s = report.summarize(bench(pairs("1m-read", "nvme", [1000])))
    assert target(s, "1 MiB", "nvme")["status"] == NOT_MEASURED
    assert target(s, "1 MiB", "nvme")["values"] == {"1m-read": 1.0, "1m-write": None}


def test_both_kinds_are_judged_even_when_one_never_ran():
    s = report.summarize(bench(pairs("1m-read", "nvme", [1000]), disks={}))
    assert target(s, "grant", "scsi_debug")["status"] == NOT_MEASURED


def test_grant_operations_per_dix_io_may_not_exceed_plain():
    runs = pairs("64k-read", "nvme", [1000]) + pairs("64k-write", "nvme", [1000])
    s = report.summarize(bench(runs))
    assert target(s, "grant", "nvme")["status"] == MET
    runs[2]["grant_unmaps"] = 1  # 64k-write's DIX run: 11 grant operations for 1000 I/Os
    s = report.summarize(bench(runs))
    t = target(s, "grant", "nvme")
    assert t["status"] == MISSED
    assert t["worst"] == {"workload": "64k-write", "dix": 0.011, "plain": 0.01}


# -- files and the command line -------------------------------------------------

def example_runs() -> list[dict]:
    return (pairs("4k-randread-qd32", "nvme", [900, 950, 1000])
            + pairs("1m-read", "scsi_debug", [990, 970, 1000])
            + pairs("1m-read", "nvme", [990], config="indirect256"))


def test_report_writes_the_markdown_the_json_and_a_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "out"
    assert main(["report", str(summary_file(tmp_path, example_runs())), "--out", str(out)]) == 0
    assert (out / "ratios.png").read_bytes()[:8] == PNG_MAGIC
    data = json.loads((out / "results.json").read_text())
    assert data["versions"] == VERSIONS and len(data["runs"]) == 14
    assert group(data["summary"])["iops_ratio"]["median"] == 0.95
    md = (out / "results.md").read_text()
    assert capsys.readouterr().out == md
    assert "## Config `default`" in md and "## Config `indirect256`" in md
    assert "- dom0 kernel: 6.1.0-56-amd64" in md


def test_the_chart_draws_with_unmeasured_ratios(tmp_path):
    pytest.importorskip("matplotlib")
    from bench import chart

    b = bench([run(dix=True, iops=None), run(iops=None)])
    chart.write(b, report.summarize(b), tmp_path / "r.png")
    assert (tmp_path / "r.png").read_bytes()[:8] == PNG_MAGIC


@pytest.mark.parametrize("argv, status, says", [
    (["report"], 2, "missing argument 'SUMMARY'"),
    (["report", "/nonexistent/summary.json"], 1, "/nonexistent/summary.json: no such file"),
    (["report", "s.json", "--colour"], 2, "no such option '--colour'"),
    (["run", "--series", "9.99"], 2, "unknown series 9.99"),
    (["run", "--smoke", "--series", "0"], 2, "unknown series 0"),
    (["chart"], 2, "no such command 'chart'"),
])
def test_a_bad_argument_is_one_line_and_a_failure(argv, status, says, capsys):
    assert main(argv) == status
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("bench: ")
    assert says.lower() in err.lower()


@pytest.mark.parametrize("content, says", [
    ("{", "not JSON"),
    ('{"facts": {"dix": 1}}', "no facts['bench_runs']"),
    ('{"facts": {"bench_runs": [{"config": "default"}]}}', "bench_runs[0]: 'kind' should be str"),
])
def test_a_summary_that_is_not_the_benchs_is_one_line(tmp_path, content, says, capsys):
    path = tmp_path / "summary.json"
    path.write_text(content)
    assert main(["report", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err


def test_run_boots_the_lab_and_reports_its_new_summary(tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    monkeypatch.setattr(runner, "ARTIFACTS", tmp_path / "lab-artifacts")
    calls = []

    def fake_lab(argv, cwd):
        calls.append(argv[1:])
        summary_file(tmp_path / "lab-artifacts" / "bench-6.1", example_runs())
        return 1  # a check of the scenario failed: the runs are still reported

    monkeypatch.setattr(NoLab, "call", staticmethod(fake_lab))
    monkeypatch.setattr(runner, "known_series", lambda: ["6.1", "6.12"])
    assert main(["run", "--series", "6.1", "--results", str(tmp_path / "results")]) == 1
    assert calls == [["-m", "lab", "run", "bench", "--series", "6.1", "--set", "full=1"]]
    assert (tmp_path / "results" / "6.1" / "results.md").read_text() == capsys.readouterr().out


def test_run_smoke_boots_the_short_run_ci_does(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.setattr(runner, "ARTIFACTS", tmp_path / "lab-artifacts")
    calls = []

    def fake_lab(argv, cwd):
        calls.append(argv[1:])
        summary_file(tmp_path / "lab-artifacts" / f"bench-{argv[-1]}", example_runs())
        return 0

    monkeypatch.setattr(NoLab, "call", staticmethod(fake_lab))
    monkeypatch.setattr(runner, "known_series", lambda: ["6.1", "6.12"])
    assert main(["run", "--smoke", "--results", str(tmp_path / "results")]) == 0
    assert calls == [["-m", "lab", "run", "bench", "--series", "6.1"],
                     ["-m", "lab", "run", "bench", "--series", "6.12"]]


def test_run_refuses_a_summary_older_than_its_boot(tmp_path, monkeypatch, capsys):
    old = tmp_path / "bench-6.1" / "summary.json"
    old.parent.mkdir()
    old.write_text("{}")
    os.utime(old, (1, 1))
    monkeypatch.setattr(runner, "ARTIFACTS", tmp_path)
    monkeypatch.setattr(NoLab, "call", staticmethod(lambda argv, cwd: 1))
    monkeypatch.setattr(runner, "known_series", lambda: ["6.1"])
    assert main(["run"]) == 1
    assert "left no new" in capsys.readouterr().err


def test_the_sampled_kernel_stacks_show_dix_beside_plain(tmp_path):
    data = {"series": "6.1", "facts": {"bench_runs": [], "bench_profiles": [
        {"config": "default", "kind": "nvme", "workload": "4k-randwrite-qd32", "dix": True,
         "samples": 200, "self": [["crc_t10dif_generic", 0.25], ["memcpy", 0.1]],
         "total": [["xen_blkbk_map", 0.4]]},
        {"config": "default", "kind": "nvme", "workload": "4k-randwrite-qd32", "dix": False,
         "samples": 150, "self": [["memcpy", 0.2]], "total": [["dispatch_rw_block_io", 0.3]]},
    ]}}
    b = report.from_summary(data)
    md = report.markdown(b, report.summarize(b))
    assert "### `default`, nvme, 4k-randwrite-qd32" in md
    assert "| 1 | crc_t10dif_generic 25.0% | memcpy 20.0% |" in md
    assert "| 2 | memcpy 10.0% |  |" in md
    assert "DIX, total (200 samples)" in md and "plain, total (150 samples)" in md
    assert "Where dom0's time goes" not in report.markdown(
        report.from_summary({"series": "6.1", "facts": {"bench_runs": []}}), report.summarize(b))
