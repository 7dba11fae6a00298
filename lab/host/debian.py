"""Debian packages: candidate versions, downloads and extraction.

Versions are never hard-coded: they are read from apt at run time, so
a new kernel ABI or Xen upload is picked up (and invalidates the cache)
by itself.
"""

from __future__ import annotations

import functools
import gzip
import shutil
import subprocess
from pathlib import Path

from .cache import cache_root
from .errors import DebianError

REPO = Path(__file__).resolve().parents[2]
SUITE = "bookworm"  # Debian 12: dom0's userspace
XEN = "4.17"  # Debian 12's Xen: hypervisor, toolstack and libraries




def _run(*argv: str, cwd: Path | None = None) -> str:
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise DebianError(f"{' '.join(argv)} failed: {proc.stderr.strip()}")
    return proc.stdout


@functools.cache
def candidate_version(package: str) -> str:
    """The version apt would install for ``package``, asked once per run."""
    out = _run("apt-cache", "show", "--no-all-versions", package)
    for line in out.splitlines():
        if line.startswith("Version: "):
            return line.split(" ", 1)[1].strip()
    raise DebianError(f"no candidate version for {package} (apt-get update?)")


@functools.cache
def kernel_abi(series: str) -> str:
    """The newest Debian kernel ABI of a series, e.g. 6.1.0-56-amd64,
    resolved once per run."""
    out = _run(str(REPO / "kmod" / "xendix-kbuild"), "--series", series, "--print-abi")
    return out.strip()


def deb_filename_version(version: str) -> str:
    """How a version appears in a .deb file name (the epoch colon is quoted)."""
    return version.replace(":", "%3a")


def download(package: str, version: str | None = None) -> Path:
    """Download ``package`` (its candidate by default) into the cache."""
    version = version or candidate_version(package)
    debs = cache_root() / "debs"
    debs.mkdir(exist_ok=True)
    debs.chmod(0o777)  # apt drops privileges to _apt while it downloads
    name = f"{package}_{deb_filename_version(version)}_amd64.deb"
    path = debs / name
    if not path.exists():
        alt = debs / f"{package}_{deb_filename_version(version)}_all.deb"
        if alt.exists():
            return alt
        _run("apt-get", "download", f"{package}={version}", cwd=debs)
        if not path.exists():
            if alt.exists():
                return alt
            raise DebianError(f"apt-get download did not produce {name}")
    return path


def extract(deb: Path, dest: Path) -> Path:
    """Unpack a .deb's files into ``dest`` (no maintainer scripts run)."""
    dest.mkdir(parents=True, exist_ok=True)
    _run("dpkg-deb", "-x", str(deb), str(dest))
    return dest


def source_lists(dest: Path) -> Path:
    """A private apt configuration in ``dest`` whose sources are the
    host's, as ``deb-src``: apt then fetches and checks a source package
    (Release signature, Sources index, the .dsc's checksums) without the
    host needing deb-src lines."""
    def deb_src(lines: list[str]) -> str:  # one-line style: "deb URI ..." -> "deb-src URI ..."
        return "".join("deb-src" + l.strip()[3:] + "\n" for l in lines if l.strip().startswith("deb "))

    parts = dest / "sources.list.d"
    parts.mkdir(parents=True, exist_ok=True)
    main = Path("/etc/apt/sources.list")
    (parts / "host.list").write_text(deb_src(main.read_text().splitlines() if main.exists() else []))
    for f in sorted(Path("/etc/apt/sources.list.d").glob("*")):
        if f.suffix == ".sources":  # deb822 style
            text = "\n".join("Types: deb-src" if l.startswith("Types:") else l
                             for l in f.read_text().splitlines())
            (parts / f.name).write_text(text + "\n")
        elif f.suffix == ".list":
            (parts / f.name).write_text(deb_src(f.read_text().splitlines()))
    (dest / "sources.list").write_text("")
    lists = dest / "lists" / "partial"
    lists.mkdir(parents=True, exist_ok=True)
    for d in (dest, dest / "lists", lists):
        d.chmod(0o777)  # apt drops privileges to _apt while it downloads
    return dest


def source_package(package: str, version: str | None = None) -> Path:
    """Download the source of ``package`` (its candidate binary's version
    by default) into the cache, checked by apt, and return the folder
    that holds its .dsc and tarballs."""
    version = version or candidate_version(package)
    out = cache_root() / "sources" / f"{package}_{deb_filename_version(version)}"
    if (out / ".done").exists():
        return out
    apt = source_lists(cache_root() / "sources" / "apt")
    opts = ["-o", f"Dir::Etc::SourceList={apt / 'sources.list'}",
            "-o", f"Dir::Etc::SourceParts={apt / 'sources.list.d'}",
            "-o", f"Dir::State::Lists={apt / 'lists'}"]
    _run("apt-get", *opts, "update", "-qq")
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    out.chmod(0o777)
    _run("apt-get", *opts, "source", "--download-only", f"{package}={version}", cwd=out)
    if not list(out.glob("*.dsc")):
        raise DebianError(f"apt-get source {package}={version} fetched no .dsc")
    (out / ".done").touch()
    return out


def kernel_tree(abi: str) -> Path:
    """Debian's linux-image-<abi> unpacked, with a modules.dep: the source
    of the kernel and of every stock module the lab uses."""
    package = f"linux-image-{abi}"
    version = candidate_version(package)
    root = cache_root() / "kernel" / f"{abi}_{version}"
    if not (root / ".done").exists():
        tmp = root.with_suffix(".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        extract(download(package, version), tmp)
        _run("depmod", "-b", str(tmp), abi)
        shutil.rmtree(root, ignore_errors=True)
        tmp.rename(root)
        (root / ".done").touch()
    return root


def xen_hypervisor() -> Path:
    """Debian's Xen hypervisor (``XEN``), gunzipped for multiboot loading."""
    package = f"xen-hypervisor-{XEN}-amd64"
    version = candidate_version(package)
    out = cache_root() / "xen" / deb_filename_version(version) / "xen"
    if not out.exists():
        tmp = out.parent / "unpacked"
        shutil.rmtree(tmp, ignore_errors=True)
        extract(download(package, version), tmp)
        gz = sorted((tmp / "boot").glob(f"xen-{XEN}*-amd64.gz"))
        if not gz:
            raise DebianError(f"{package} has no boot/xen-{XEN}-amd64.gz")
        with gzip.open(gz[0]) as src, open(out.with_suffix(".tmp"), "wb") as dst:
            shutil.copyfileobj(src, dst)
        out.with_suffix(".tmp").rename(out)
        shutil.rmtree(tmp)
    return out
