"""Scenarios, results and cache keys on the host side."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from lab.host import cache, job
from lab.host.errors import ConfigError


def test_every_scenario_has_a_dom0_half_and_a_description():
    names = job.available()
    assert {"demo", "dix", "hostile", "nvme", "ctl"} <= set(names)
    for name in names:
        s = job.Scenario.load(name)
        assert (s.directory / "dom0.py").exists(), name
        assert s.description and 0 < s.timeout <= 1200, name
        assert s.full_timeout <= 5400, name  # a long run (--set full=1), never in CI


def test_an_unknown_scenario_is_refused_with_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown scenario 'nope' \(known: .*dix"):
        job.Scenario.load("nope")


def test_results_unpack_files_but_never_outside_the_folder(tmp_path):
    disk = tmp_path / "out.img"
    with tarfile.open(disk, "w") as tar:
        for name, data in (("./result.json", b"{}"), ("../escape", b"x"), ("/abs", b"y")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("./link")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tar.addfile(link)
    with open(disk, "ab") as f:
        f.write(bytes(1 << 20))  # the rest of the raw disk is zeros
    dest = tmp_path / "results"
    job.read_results(disk, dest)
    assert sorted(p.name for p in dest.iterdir()) == ["result.json"]
    assert not (tmp_path / "escape").exists()


def test_a_blank_result_disk_yields_no_results(tmp_path):
    dest = tmp_path / "results"
    job.read_results(job.blank_disk(tmp_path / "out.img", mib=1), dest)
    assert list(dest.iterdir()) == []


def test_cache_keys_change_with_content_not_with_time(tmp_path):
    f = tmp_path / "0001-a.patch"
    f.write_text("one")
    k1 = cache.key("6.1", f)
    assert cache.key("6.1", f) == k1
    f.write_text("two")
    assert cache.key("6.1", f) != k1
    assert cache.key("6.12", f) != cache.key("6.1", f)


def test_the_cache_lives_where_xendix_lab_cache_says(tmp_path, monkeypatch):
    monkeypatch.setenv("XENDIX_LAB_CACHE", str(tmp_path / "c"))
    assert cache.cache_root() == tmp_path / "c" and (tmp_path / "c").is_dir()


def test_a_scenario_asks_for_nvme_disks_by_pi_type_and_block_size():
    s = job.Scenario.load("nvme")
    assert [(n.serial, n.pi, n.lbs) for n in s.nvme] == [("dix0", 1, 512), ("dix1", 3, 4096)]
    assert job.Scenario.load("dix").nvme == ()


@pytest.mark.parametrize("entry", [{"pi": 5}, {"lbs": 2048}, {"size_mib": 1}, {"pl": 1},
                                   {"iops": -1}])
def test_a_bad_nvme_entry_is_refused(entry):
    with pytest.raises(ConfigError, match=r"nvme\[0\]"):
        job.NvmeSpec.parse(0, entry)


def test_a_scenario_asks_for_domu_tools_by_name_and_an_unknown_one_is_refused(tmp_path, monkeypatch):
    assert job.Scenario.load("bench").domu_tools == ("fio",)
    assert job.Scenario.load("dix").domu_tools == ()
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "scenario.toml").write_text('domu_tools = ["fio", "iperf"]\n')
    monkeypatch.setattr(job, "SCENARIOS", tmp_path)
    with pytest.raises(ConfigError, match=r"odd: unknown domu_tools \['iperf'\] \(known: fio\)"):
        job.Scenario.load("odd")


def test_run_parameters_reach_the_job_description():
    desc = job.job_description(job.Scenario.load("bench"), "6.1", "6.1.0-1-amd64", {},
                               {"full": "1"})
    assert desc["params"] == {"full": "1"} and desc["timeout"] == 5400
    assert job.job_description(job.Scenario.load("bench"), "6.1", "abi", {})["params"] == {}


def test_a_full_run_gets_the_scenarios_long_bound_and_ci_the_short_one():
    s = job.Scenario.load("bench")
    assert s.bound() == s.timeout <= 1200
    assert s.bound({"full": "1"}) == s.full_timeout > s.timeout
    assert job.Scenario.load("dix").bound({"full": "1"}) == job.Scenario.load("dix").timeout


@pytest.mark.parametrize("text", ["smoke", "Smoke=1", "smoke=1;rm", "=1", "a b=1"])
def test_a_run_parameter_that_is_not_key_value_is_refused_in_one_line(text, capsys):
    from lab.__main__ import main

    with pytest.raises(SystemExit) as e:
        main(["run", "bench", "--set", text])
    assert e.value.code == 2
    assert "not KEY=VALUE" in capsys.readouterr().err
