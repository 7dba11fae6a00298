"""The benchmark's plan (lab/scenarios/bench/plan.py), which dom0 runs:
every configuration names known workloads, the issue's workloads are all
there, and CI's smoke run stays short."""

from __future__ import annotations

import importlib.util
import sys

from lab.host import job


def load_plan():
    """plan.py as dom0 imports it, without a __pycache__ in the scenario."""
    path = job.SCENARIOS / "bench" / "plan.py"
    loader = job._NoBytecodeLoader("bench_plan", str(path))
    spec = importlib.util.spec_from_file_location("bench_plan", path, loader=loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_plan"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


plan = load_plan()


def test_every_configuration_runs_known_workloads():
    for configs in (plan.FULL, plan.SMOKE):
        for c in configs:
            assert c.workloads and set(c.workloads) <= set(plan.WORKLOADS), c.name


def test_the_full_plan_has_4k_random_at_qd1_and_qd32_and_64k_to_4m_sequential():
    names = {w for c in plan.FULL for w in c.workloads}
    assert {"4k-randread-qd1", "4k-randwrite-qd1", "4k-randread-qd32", "4k-randwrite-qd32",
            "64k-read", "64k-write", "1m-read", "1m-write", "4m-read", "4m-write"} <= names
    four_mib = [c for c in plan.FULL if "4m-write" in c.workloads]
    assert four_mib and all(c.front_params.get("max_indirect_segments") == 256 for c in four_mib)


def test_persistent_grants_off_and_multi_page_rings_with_queues_are_configurations():
    assert any(not c.persistent for c in plan.FULL)
    multi = [c for c in plan.FULL if c.front_params.get("max_ring_page_order", 0) > 0]
    assert multi and all(c.front_params.get("max_queues", 1) > 1 and c.vcpus > 1 for c in multi)


def test_the_smoke_run_is_one_configuration_once_and_never_reads():
    configs, reps, runtime = plan.plan(smoke=True)
    assert len(configs) == 1 and reps == 1 and runtime <= 2
    assert all(plan.WORKLOADS[w].rw in ("write", "randwrite") for w in configs[0].workloads)
    assert plan.plan(smoke=False)[1] >= 3  # min, median and max need three pairs


def test_qd1_uses_a_synchronous_engine_and_deeper_queues_io_uring():
    args = plan.WORKLOADS["4k-randread-qd1"].fio_args(3)
    assert "--ioengine=psync" in args and "--iodepth=1" in args and "--runtime=3" in args
    assert "--ioengine=io_uring" in plan.WORKLOADS["4k-randwrite-qd32"].fio_args(3)
