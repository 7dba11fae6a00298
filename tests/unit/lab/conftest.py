"""Fixtures shared by the lab's unit tests."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from lab.host import job, kmod
from lab.host import series as kseries


@pytest.fixture(scope="module")
def labguest():
    """labguest as dom0 imports it: lab/dom0 and ctl/ on sys.path."""
    sys.path[:0] = [str(job.DOM0), str(job.LAB.parent / "ctl")]
    try:
        return importlib.import_module("labguest")
    finally:
        del sys.path[:2]


@pytest.fixture
def checkpatch():
    """``checkpatch(series)``: the series' scripts/checkpatch.pl, from its
    source package (the test skips where that is not installed)."""
    def script(series: str) -> Path:
        tarball = Path(f"/usr/src/{kseries.load(series).source}.tar.xz")
        if not tarball.exists():
            pytest.skip(f"{tarball} is missing")
        return kmod.checkpatch_script(series)
    return script
