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


def checkpatch(tmp_path: Path, series: str = kseries.default()) -> Path:
    tarball = Path(f"/usr/src/linux-source-{series}.tar.xz")
    if not tarball.exists():
        pytest.skip(f"{tarball} is missing")
    subprocess.run(["tar", "-xJf", str(tarball), "-C", str(tmp_path), "--strip-components=1",
                    f"linux-source-{series}/scripts/checkpatch.pl",
                    f"linux-source-{series}/scripts/spelling.txt",
                    f"linux-source-{series}/scripts/const_structs.checkpatch"], check=True)
    return tmp_path / "scripts" / "checkpatch.pl"


@pytest.mark.parametrize("series", SERIES)
def test_fuzzfront_is_checkpatch_strict_clean(tmp_path, series):
    """CAMELCASE is ignored: it only names xenbus's XenbusState* enum, which
    checkpatch cannot see defined with --no-tree."""
    proc = subprocess.run(["perl", str(checkpatch(tmp_path, series)), "--strict", "--no-tree", "--terse",
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
