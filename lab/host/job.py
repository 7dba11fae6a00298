"""A lab job: what the host hands dom0 (a tar on a raw disk) and what it
gets back (another tar on another raw disk)."""

from __future__ import annotations

import functools
import importlib.machinery
import importlib.util
import io
import json
import subprocess
import tarfile
import tomllib
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import debian, fio, images
from . import series as kseries
from .cache import cache_root, key
from .errors import ConfigError
from .kmod import FLAVOURS as KMOD_FLAVOURS
from .kmod import ModuleBuild, build_blkif32_test, build_fuzzfront, modinfo
from .kmod import build as kmod_build
from .vmlinux import elf_kernel

LAB = Path(__file__).resolve().parents[1]
DOM0 = LAB / "dom0"  # what runs in dom0: its init, labguest, the hotplug script
DOMU = LAB / "domu"  # what runs in a domU: its init, lablib.sh, labio, fuzzfront
SCENARIOS = LAB / "scenarios"
RESULT_DISK_MIB = 256
NVME_DISK_MIB = 256


@dataclass(frozen=True)
class NvmeSpec:
    """One NVMe namespace with PI that a scenario asks for
    (``nvme = [{pi = 1, lbs = 512, size_mib = 256, iops = 0}]`` in
    scenario.toml; ``iops`` throttles the device, 0 does not).
    dom0 finds the i-th one by its serial, ``dix<i>``."""

    serial: str
    pi: int = 1
    lbs: int = 512
    size_mib: int = NVME_DISK_MIB
    iops: int = 0

    @classmethod
    def parse(cls, index: int, entry: dict[str, Any]) -> "NvmeSpec":
        unknown = set(entry) - {"pi", "lbs", "size_mib", "iops"}
        if unknown:
            raise ConfigError(f"nvme[{index}]: unknown keys {sorted(unknown)}")
        spec = cls(f"dix{index}", int(entry.get("pi", 1)), int(entry.get("lbs", 512)),
                   int(entry.get("size_mib", NVME_DISK_MIB)), int(entry.get("iops", 0)))
        if (spec.pi not in (0, 1, 2, 3) or spec.lbs not in (512, 4096) or spec.size_mib < 16
                or spec.iops < 0):
            raise ConfigError(f"nvme[{index}]: pi 0-3, lbs 512 or 4096, size_mib >= 16, "
                              f"iops >= 0: {entry}")
        return spec


@dataclass(frozen=True)
class Scenario:
    """A named scenario: dom0.py, optional domu-*.sh and scenario.toml."""

    name: str
    directory: Path
    timeout: int
    backend: str
    udev: bool
    description: str
    nvme: tuple[NvmeSpec, ...] = field(default_factory=tuple)
    domu_tools: tuple[str, ...] = ()
    full_timeout: int = 0  # the bound with ``--set full=1`` (a long run outside CI)
    # Also a domU kernel of another series, with its own blkfront builds
    # (``other_series_domu = true``): dom0 finds them in domu-other/.
    other_series_domu: bool = False

    @classmethod
    def load(cls, name: str) -> "Scenario":
        directory = SCENARIOS / name
        meta_file = directory / "scenario.toml"
        if not meta_file.exists():
            known = ", ".join(available()) or "none"
            raise ConfigError(f"unknown scenario {name!r} (known: {known})")
        meta = tomllib.loads(meta_file.read_text())
        tools = tuple(str(t) for t in meta.get("domu_tools", []))
        unknown = set(tools) - set(DOMU_TOOLS)
        if unknown:
            raise ConfigError(f"{name}: unknown domu_tools {sorted(unknown)} "
                              f"(known: {', '.join(DOMU_TOOLS)})")
        return cls(name, directory, int(meta.get("timeout", 300)),
                   str(meta.get("backend", "patched")), bool(meta.get("udev", False)),
                   str(meta.get("description", "")).strip(),
                   tuple(NvmeSpec.parse(i, e) for i, e in enumerate(meta.get("nvme", []))),
                   tools, int(meta.get("full_timeout", 0)),
                   bool(meta.get("other_series_domu", False)))

    def bound(self, params: dict[str, str] | None = None) -> int:
        """The scenario's bound for a run with ``params``."""
        if (params or {}).get("full") == "1" and self.full_timeout:
            return self.full_timeout
        return self.timeout

    def domu_scripts(self) -> list[Path]:
        return sorted(self.directory.glob("domu-*.sh"))


# Tools a scenario may ask for in its domU (``domu_tools = ["fio"]``),
# each built on the host and put in the domU's /lab/bin.
DOMU_TOOLS = {"fio": fio.fio}


def available() -> list[str]:
    """The names of every scenario."""
    return sorted(p.parent.name for p in SCENARIOS.glob("*/scenario.toml"))


class _NoBytecodeLoader(importlib.machinery.SourceFileLoader):
    """Loads a scenario's checks.py without writing __pycache__ into the
    scenario folder, which goes into the job as it is."""

    def set_data(self, path: str, data: bytes, *, _mode: int = 0o666) -> None:
        pass


@functools.cache
def checks(name: str) -> types.ModuleType:
    """The check names of scenario ``name`` (lab/scenarios/<name>/checks.py,
    which its dom0.py imports as ``checks``), for tests to ask for."""
    path = SCENARIOS / name / "checks.py"
    if not path.exists():
        raise ConfigError(f"scenario {name!r} has no checks.py")
    module_name = f"lab_checks_{name.replace('-', '_')}"
    spec = importlib.util.spec_from_file_location(
        module_name, path, loader=_NoBytecodeLoader(module_name, str(path)))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def labio() -> Path:
    """The static guest I/O tool, built once per source version."""
    src = DOMU / "labio.c"
    out = cache_root() / "tools" / f"labio-{key(src)}"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["gcc", "-static", "-O2", "-Wall", "-Werror", "-o", str(out), str(src)],
                       check=True, capture_output=True)
    return out


def module_deps(kos: list[Path]) -> tuple[str, ...]:
    """Debian modules our builds depend on (e.g. t10-pi)."""
    deps: list[str] = []
    for ko in kos:
        for dep in modinfo(ko, "depends").split(","):
            if dep and dep not in deps:
                deps.append(dep)
    return tuple(deps)


def domu_initramfs(abi: str, scenario: Scenario, builds: dict[str, ModuleBuild], out: Path,
                   fuzzfront: Path | None = None) -> Path:
    """The domU's initramfs: busybox, both blkfront flavours, the hostile
    frontend (flavour ``fuzz``: fuzzfront.ko instead of a blkfront), the
    tools and the scenario's domU scripts."""
    extra = {"init": DOMU / "domu-init", "lab/bin/labio": labio(),
             "lab/bin/lablib.sh": DOMU / "lablib.sh"}
    fronts = []
    for flavour, b in builds.items():
        extra[f"lab/front/{flavour}/xen-blkfront.ko"] = b.blkfront
        fronts.append(b.blkfront)
    if fuzzfront is not None:
        extra["lab/front/fuzz/fuzzfront.ko"] = fuzzfront
        fronts.append(fuzzfront)
    for tool in scenario.domu_tools:
        extra[f"lab/bin/{tool}"] = DOMU_TOOLS[tool]()
    for script in scenario.domu_scripts():
        extra[f"lab/scripts/{script.name}"] = script
    tree = debian.kernel_tree(abi)
    deps = module_deps(fronts)
    modules = images.module_load_order(tree, abi, deps) if deps else []
    return images.domu_initramfs(abi, extra, modules, out)


def job_description(scenario: Scenario, series: str, abi: str,
                    builds: dict[str, ModuleBuild],
                    params: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "scenario": scenario.name,
        # ``python -m lab run NAME --set KEY=VALUE``: the scenario reads
        # them with labguest.param().
        "params": dict(params or {}),
        "series": series,
        "abi": abi,
        "timeout": scenario.bound(params),
        "backend": scenario.backend,
        "xen": debian.XEN,
        "udev": scenario.udev,
        "nvme": [{"serial": n.serial, "pi": n.pi, "lbs": n.lbs, "size_mib": n.size_mib,
                  "iops": n.iops} for n in scenario.nvme],
        "srcversion": {f: {"xen-blkback": modinfo(b.blkback, "srcversion"),
                           "xen-blkfront": modinfo(b.blkfront, "srcversion")}
                       for f, b in builds.items()},
        # Which series each build carries (kmod/xendix-kbuild's modinfo field).
        "xendix": {f: {"xen-blkback": modinfo(b.blkback, "xendix"),
                       "xen-blkfront": modinfo(b.blkfront, "xendix")}
                   for f, b in builds.items()},
    }


def other_series(series: str) -> str:
    """The series a mixed-kernel domU runs beside ``series``' dom0: the
    newest other one."""
    others = [n for n in kseries.names() if n != series]
    if not others:
        raise ConfigError(f"no series other than {series} for a mixed-kernel domU")
    return others[-1]


def other_domu(workdir: Path, scenario: Scenario, series: str) -> tuple[str, str, Path, Path]:
    """The other series' domU kernel and initramfs (its own blkfront
    builds): (series, abi, kernel, initrd)."""
    other = other_series(series)
    kseries.load(other)
    abi = debian.kernel_abi(other)
    builds = {f: kmod_build(other, f, abi) for f in KMOD_FLAVOURS}
    initrd = domu_initramfs(abi, scenario, builds, workdir / "domu-other-initrd.gz")
    return other, abi, elf_kernel(debian.kernel_tree(abi) / "boot" / f"vmlinuz-{abi}"), initrd


def make_job(workdir: Path, scenario: Scenario, series: str, abi: str,
             builds: dict[str, ModuleBuild], repo: Path, patch_dir: Path | None = None,
             params: dict[str, str] | None = None) -> Path:
    """Write job.tar for dom0 into ``workdir`` and return its path."""
    tree = debian.kernel_tree(abi)
    fuzzfront = build_fuzzfront(series, abi, patch_dir)
    # dom0 loads it to run blkback's x86_32 translation (labguest.run_blkif32_test).
    blkif32_test = build_blkif32_test(series, abi, patch_dir)
    initrd = domu_initramfs(abi, scenario, builds, workdir / "domu-initrd.gz", fuzzfront)
    desc = job_description(scenario, series, abi, builds, params)
    other = other_domu(workdir, scenario, series) if scenario.other_series_domu else None
    if other:
        desc["other_series"] = {"series": other[0], "abi": other[1]}
    path = workdir / "job.tar"
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tar:
        data = json.dumps(desc, indent=2).encode()
        info = tarfile.TarInfo("job.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        tar.add(DOM0, "dom0", filter=no_pycache)
        tar.add(scenario.directory, "scenario")
        for flavour, b in builds.items():
            tar.add(b.blkback, f"modules/{flavour}/xen-blkback.ko")
            tar.add(b.blkfront, f"modules/{flavour}/xen-blkfront.ko")
        tar.add(blkif32_test, "modules/blkif32-test.ko")
        # xl loads the ELF inside the bzImage: no decompression in dom0.
        tar.add(elf_kernel(tree / "boot" / f"vmlinuz-{abi}"), "domu/kernel")
        tar.add(initrd, "domu/initrd.gz")
        if other:
            tar.add(other[2], "domu-other/kernel")
            tar.add(other[3], "domu-other/initrd.gz")
        ctl = repo / "ctl"
        if ctl.is_dir():
            tar.add(ctl, "ctl", filter=no_pycache)
    return path


def no_pycache(member: tarfile.TarInfo) -> tarfile.TarInfo | None:
    return None if "__pycache__" in member.name else member


def blank_disk(path: Path, mib: int = RESULT_DISK_MIB) -> Path:
    """A zeroed (sparse) raw disk for dom0 to write its results to."""
    path.unlink(missing_ok=True)
    with open(path, "wb") as f:
        f.truncate(mib * 1024 * 1024)
    return path


def read_results(disk: Path, dest: Path) -> None:
    """Unpack the tar dom0 wrote on the result disk into ``dest``: regular
    files and folders only, never outside ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(disk, "r:") as tar:
            members = [m for m in tar.getmembers() if safe_member(m)]
            tar.extractall(dest, members=members)
    except tarfile.ReadError:
        pass  # dom0 never wrote it: the caller reports what is missing


def safe_member(member: tarfile.TarInfo) -> bool:
    """A result archive member that may be unpacked on the host."""
    parts = Path(member.name).parts
    return ((member.isfile() or member.isdir())
            and not member.name.startswith("/") and ".." not in parts)
