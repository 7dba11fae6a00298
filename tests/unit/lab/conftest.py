"""Fixtures shared by the lab's unit tests."""

from __future__ import annotations

import importlib
import sys

import pytest

from lab.host import job


@pytest.fixture(scope="module")
def labguest():
    """labguest as dom0 imports it: lab/dom0 and ctl/ on sys.path."""
    sys.path[:0] = [str(job.DOM0), str(job.LAB.parent / "ctl")]
    try:
        return importlib.import_module("labguest")
    finally:
        del sys.path[:2]
