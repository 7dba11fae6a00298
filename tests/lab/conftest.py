"""Lab fixtures: each scenario boots once per test session."""

from __future__ import annotations

import pytest

from lab.host import runner
from lab.host import series as kseries

_results: dict[tuple[str, str, tuple], runner.LabResult] = {}


@pytest.fixture(scope="session")
def lab_run():
    """lab_run(name, series=None, params=None) boots the scenario once (on
    the oldest series by default; ``params`` as ``python -m lab run
    --set``) and caches its
    result for every test that asks for it."""

    def run(name: str, series: str | None = None,
            params: dict[str, str] | None = None) -> runner.LabResult:
        series = series or kseries.default()
        key = (name, series, tuple(sorted((params or {}).items())))
        if key not in _results:
            result = runner.run(name, series, params=params)
            print(f"\nlab {name} ({series}): timings {result.timings}")
            _results[key] = result
        return _results[key]

    return run


@pytest.fixture(scope="module", params=kseries.names())
def series(request) -> str:
    """Every kernel series (every folder of patches/), one after the other:
    module scope groups a test file's tests by series, so that each
    scenario boots once per series (test_...[6.1], test_...[6.12])."""
    return request.param
