"""Run the lab's bench scenario for some kernel series and report each.

The lab does the boot (``python -m lab run bench --series S``, which
needs what ``python -m lab`` needs: root for the images, QEMU) and leaves
lab-artifacts/bench-S/summary.json; this reads it back and writes
bench/results/S/.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from . import report
from .report import BenchError

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "lab-artifacts"
RESULTS = Path(__file__).resolve().parent / "results"
SCENARIO = "bench"


def known_series() -> list[str]:
    """The kernel series the lab knows (patches/*/series.conf), oldest first."""
    from lab.host import series

    return series.names()


def check_series(wanted: list[str], known: list[str]) -> None:
    """BenchError naming the unknown series and the known ones."""
    unknown = [s for s in wanted if s not in known]
    if unknown:
        raise BenchError(f"unknown series {', '.join(unknown)} (known: {', '.join(known)})")


def lab_command(series: str, smoke: bool = False) -> list[str]:
    """The lab's run of the scenario: the whole plan (``--set full=1``), or
    the smoke run CI does (the scenario's default)."""
    return [sys.executable, "-m", "lab", "run", SCENARIO, "--series", series,
            *([] if smoke else ["--set", "full=1"])]


def summary_path(series: str, artifacts: Path | None = None) -> Path:
    return (artifacts or ARTIFACTS) / f"{SCENARIO}-{series}" / "summary.json"


def run_series(series: str, results: Path, call: Callable[..., int] | None = None,
               artifacts: Path | None = None, smoke: bool = False) -> tuple[int, str]:
    """Boot the bench for one series (``call``, subprocess.call by default,
    runs the lab) and write its report; return the lab's exit status and
    the Markdown.  The lab fails (1) when a check of the scenario fails,
    and still leaves its runs: they are reported.  BenchError when this
    boot left no summary (an older one is not used)."""
    started = time.time()
    rc = (call or subprocess.call)(lab_command(series, smoke), cwd=REPO)
    summary = summary_path(series, artifacts)
    if not summary.exists() or summary.stat().st_mtime < started - 1:
        raise BenchError(f"python -m lab run {SCENARIO} --series {series} left no new "
                         f"{summary} (exit status {rc})")
    return rc, report.write(report.load(summary), results / series)
