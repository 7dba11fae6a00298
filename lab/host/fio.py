"""fio for the domU: Debian's fio source, built static on the host.

Debian's fio binary links librbd, libgfapi, libpmem and more, which a
busybox initramfs does not carry; the domU's benchmark needs only the
psync and io_uring engines.  So the host builds the same upstream source
(`apt-get source fio`, checked by apt) with those libraries disabled and
``--build-static``, once per version, and the job puts the binary in the
domU's /lab/bin.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from . import debian
from .cache import cache_root, key
from .errors import ImageError

# Everything fio can link that a static domU binary must not: the engines
# the benchmark uses (psync, io_uring) are fio's own.
CONFIGURE = ("--build-static", "--disable-native", "--disable-numa", "--disable-rdma",
             "--disable-rados", "--disable-rbd", "--disable-http", "--disable-gfapi",
             "--disable-pmem", "--disable-xnvme", "--disable-libzbc", "--disable-tcmalloc",
             "--disable-dfs", "--disable-shm")


def _run(argv: list[str], cwd: Path) -> None:
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise ImageError(f"fio build: {' '.join(argv)} failed ({proc.returncode}):\n{tail}")


def fio() -> Path:
    """The static fio binary, built once per Debian version of fio."""
    version = debian.candidate_version("fio")
    out = cache_root() / "tools" / f"fio-{debian.deb_filename_version(version)}-{key(*CONFIGURE)}"
    if out.exists():
        return out
    src = debian.source_package("fio", version)
    orig = sorted(p for p in src.glob("fio_*.orig.tar.*") if p.suffix != ".asc")
    if not orig:
        raise ImageError(f"fio {version}: no upstream tarball in {src}")
    work = out.with_name(out.name + ".build")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    _run(["tar", "-xf", str(orig[0]), "--no-same-owner"], work)
    tree = next(p for p in work.iterdir() if p.is_dir())
    _run(["./configure", *CONFIGURE], tree)
    _run(["make", f"-j{os.cpu_count() or 1}", "fio"], tree)
    _run(["strip", "-o", str(out.with_suffix(".tmp")), "fio"], tree)
    out.with_suffix(".tmp").rename(out)
    shutil.rmtree(work)
    return out
