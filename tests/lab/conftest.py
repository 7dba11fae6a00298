"""Lab fixtures: each scenario boots once per test session."""

from __future__ import annotations

import pytest

from . import runner

_results: dict[tuple[str, str], runner.LabResult] = {}


@pytest.fixture(scope="session")
def lab_run():
    """lab_run(name, series="6.1") boots the scenario once and caches its
    result for every test that asks for it."""

    def run(name: str, series: str = "6.1") -> runner.LabResult:
        if (name, series) not in _results:
            result = runner.run(name, series)
            print(f"\nlab {name} ({series}): timings {result.timings}")
            _results[(name, series)] = result
        return _results[(name, series)]

    return run
