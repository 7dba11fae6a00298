"""fuzzfront, the lab's hostile DIX frontend (tests/lab/guest/fuzzfront):
kernel style, and it builds against our headers with what the domU loads."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from lab.host import kmod
from lab.host import series as kseries

SOURCE = kmod.FUZZFRONT / "fuzzfront.c"
pytestmark = pytest.mark.kbuild
SERIES = tuple(kseries.names())


@pytest.mark.parametrize("series", SERIES)
def test_fuzzfront_is_checkpatch_strict_clean(tmp_path, series, checkpatch):
    """CAMELCASE is ignored: it only names xenbus's XenbusState* enum, which
    checkpatch cannot see defined with --no-tree."""
    proc = subprocess.run(["perl", str(checkpatch(series)), "--strict", "--no-tree", "--terse",
                           "--ignore", "CAMELCASE", "-f", str(SOURCE)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("series", SERIES)
def test_fuzzfront_builds_against_the_series_and_needs_only_crc_t10dif(series):
    """The lab loads it in a domU of either series (test_hostile).  Debian's
    6.1 has crc-t10dif as a module, its 6.12 builds it in."""
    ko = kmod.build_fuzzfront(series)
    assert ko.name == "fuzzfront.ko" and ko.exists()
    assert set(filter(None, kmod.modinfo(ko, "depends").split(","))) <= {"crc-t10dif"}
    assert kmod.modinfo(ko, "license") == "GPL"
