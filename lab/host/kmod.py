"""Our xen-blkfront/xen-blkback builds, cached by their inputs."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from . import debian
from . import series as kseries
from .cache import cache_root, key
from .errors import BuildError, ConfigError

REPO = debian.REPO
FUZZFRONT = REPO / "lab" / "domu" / "fuzzfront"
BLKIF32_TEST = REPO / "lab" / "dom0" / "blkif32-test"
KBUILD = REPO / "kmod" / "xendix-kbuild"
FAULT_INJECT_SHIM = REPO / "kmod" / "xendix-fault-inject.h"
MODULES = ("xen-blkfront.ko", "xen-blkback.ko")
FLAVOURS = ("patched", "stock")




@dataclass(frozen=True)
class ModuleBuild:
    """One build of both drivers: ``patched`` has patches/<series>,
    ``stock`` is the same source with no patches."""

    series: str
    abi: str
    flavour: str
    directory: Path

    @property
    def blkfront(self) -> Path:
        return self.directory / "xen-blkfront.ko"

    @property
    def blkback(self) -> Path:
        return self.directory / "xen-blkback.ko"


def kbuild_env() -> dict[str, str]:
    """The environment for xendix-kbuild: the pristine sources it extracts
    kept in the cache (XENDIX_KBUILD_SOURCES), so that each source tarball
    is read once, not once a build."""
    return {"XENDIX_KBUILD_SOURCES": str(cache_root() / "linux-source"), **os.environ}


def checkpatch_script(series: str) -> Path:
    """The series' scripts/checkpatch.pl (with the spelling and const_structs
    files it reads beside it), extracted once from its source tarball."""
    source = kseries.load(series).source
    tarball = Path(f"/usr/src/{source}.tar.xz")
    st = tarball.stat()
    out = cache_root() / "checkpatch" / f"{source}-{st.st_size}-{int(st.st_mtime)}"
    script = out / "scripts" / "checkpatch.pl"
    if not script.exists():
        tmp = out.with_name(out.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        subprocess.run(["tar", "-xJf", str(tarball), "-C", str(tmp), "--strip-components=1",
                        *(f"{source}/scripts/{f}" for f in
                          ("checkpatch.pl", "spelling.txt", "const_structs.checkpatch"))],
                       check=True, capture_output=True)
        try:
            tmp.rename(out)
        except OSError:  # another run got there first
            shutil.rmtree(tmp, ignore_errors=True)
    return script


def patch_files(series: str, patch_dir: Path | None = None) -> list[Path]:
    """The patches of a series, in the order xendix-kbuild applies them."""
    where = ["--patch-dir", str(patch_dir)] if patch_dir else ["--series", series]
    proc = subprocess.run([str(KBUILD), "--list-patches", *where],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BuildError(proc.stderr.strip())
    return [Path(line) for line in proc.stdout.splitlines()]


def build_key(series: str, abi: str, flavour: str, patch_dir: Path | None = None) -> str:
    """Everything a build depends on: sources, patches, Kbuild, headers."""
    patches = patch_files(series, patch_dir) if flavour == "patched" else []
    return key(
        series,
        abi,
        flavour,
        debian.candidate_version(kseries.load(series).source),
        debian.candidate_version(f"linux-headers-{abi}"),
        REPO / "Kbuild",
        KBUILD,
        FAULT_INJECT_SHIM,
        *patches,
    )


def build(series: str, flavour: str = "patched", abi: str | None = None,
          patch_dir: Path | None = None) -> ModuleBuild:
    """Build (or reuse from the cache) both modules for ``series``."""
    if flavour not in FLAVOURS:
        raise ConfigError(f"unknown flavour {flavour!r}")
    abi = abi or debian.kernel_abi(series)
    out = cache_root() / "kmod" / f"{series}-{flavour}-{build_key(series, abi, flavour, patch_dir)}"
    if not all((out / m).exists() for m in MODULES):
        work = cache_root() / "kmod" / "work"
        argv = [str(KBUILD), "--kver", abi, "--build-dir", str(work)]
        if flavour == "stock":
            argv.append("--no-patches")
        else:
            # The lab corrupts PI in flight through blkback's fault
            # injection, which Debian's kernels leave out (README).
            argv.append("--fault-injection")
            if patch_dir is not None:
                argv += ["--patch-dir", str(patch_dir)]
        proc = subprocess.run(argv, capture_output=True, text=True, env=kbuild_env())
        if proc.returncode != 0:
            raise BuildError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip()
                             else f"xendix-kbuild exited {proc.returncode}")
        tmp = out.with_name(out.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for m in MODULES:
            shutil.copy2(work / m, tmp / m)
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
        shutil.rmtree(work, ignore_errors=True)
    return ModuleBuild(series, abi, flavour, out)


def build_lab_module(name: str, sources: list[Path], series: str, abi: str | None = None,
                     patch_dir: Path | None = None) -> Path:
    """Build (or reuse from the cache) ``name``.ko, an out-of-tree module of
    the lab, from ``sources`` (its .c files and Kbuild, copied into the
    build folder): in a folder that ``kmod/xendix-kbuild --extract-only``
    fills with the series' patched xen-block sources (its Kbuild puts their
    include/ before the kernel's), against the same kernel headers as our
    drivers.  Cached by the patched build's key and the sources."""
    abi = abi or debian.kernel_abi(series)
    k = key(name, build_key(series, abi, "patched", patch_dir), *sources)
    out = cache_root() / "kmod" / f"{name}-{series}-{k}"
    ko = out / f"{name}.ko"
    if not ko.exists():
        work = cache_root() / "kmod" / f"{name}-work"
        argv = [str(KBUILD), "--kver", abi, "--build-dir", str(work),
                "--extract-only"]
        if patch_dir is not None:
            argv += ["--patch-dir", str(patch_dir)]
        steps = [argv, ["make", "-s", "-C", f"/lib/modules/{abi}/build", f"M={work}", "modules"]]
        for i, step in enumerate(steps):
            if i == 1:
                for src in sources:
                    shutil.copy2(src, work / src.name)
            proc = subprocess.run(step, capture_output=True, text=True, env=kbuild_env())
            if proc.returncode != 0:
                raise BuildError(f"{name}: " + (proc.stderr.strip()[-2000:]
                                                or f"{step[0]} exited {proc.returncode}"))
        tmp = out.with_name(out.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        shutil.copy2(work / ko.name, tmp / ko.name)
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
        shutil.rmtree(work, ignore_errors=True)
    return ko


def build_fuzzfront(series: str, abi: str | None = None,
                    patch_dir: Path | None = None) -> Path:
    """Build (or reuse from the cache) the lab's hostile frontend,
    lab/domu/fuzzfront, against the same kernel headers as our
    drivers and the series' patched blkif.h.  Returns fuzzfront.ko."""
    return build_lab_module("fuzzfront", [FUZZFRONT / "fuzzfront.c", FUZZFRONT / "Kbuild"],
                            series, abi, patch_dir)


def build_blkif32_test(series: str, abi: str | None = None,
                       patch_dir: Path | None = None) -> Path:
    """Build (or reuse from the cache) lab/dom0/blkif32-test, the module
    that runs blkback's translation of x86_32 (and x86_64) ring requests,
    DIX pairs included, at load (dom0 loads it: labguest.run_blkif32_test),
    against the series' patched common.h and blkback.c.  Returns
    blkif32_test.ko."""
    return build_lab_module("blkif32_test",
                            [BLKIF32_TEST / "blkif32_test.c", BLKIF32_TEST / "Kbuild"],
                            series, abi, patch_dir)


def modinfo(ko: Path, field: str) -> str:
    """One field of a module's .modinfo (e.g. ``srcversion``, ``depends``)."""
    proc = subprocess.run(["modinfo", "-F", field, str(ko)], capture_output=True, text=True, check=True)
    return proc.stdout.strip()
