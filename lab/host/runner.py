"""Run one scenario in the lab and bring its results back to the host."""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import debian, images, kmod, qemu
from . import series as kseries
from .errors import LabError
from .job import Scenario, blank_disk, make_job, read_results
from .vmlinux import elf_kernel

REPO = debian.REPO
ARTIFACTS = REPO / "lab-artifacts"


@dataclass
class LabResult:
    """A scenario's facts and checks, as dom0 saved them, plus timings."""

    scenario: str
    series: str
    abi: str
    facts: dict[str, Any]
    checks: list[dict[str, Any]]
    artifacts: Path
    timings: dict[str, float] = field(default_factory=dict)

    def check(self, name: str) -> dict[str, Any]:
        """The check called ``name``; KeyError if the scenario never ran it."""
        for c in self.checks:
            if c["name"] == name:
                return c
        raise KeyError(f"scenario {self.scenario} has no check {name!r}; "
                       f"it ran: {[c['name'] for c in self.checks]}")

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [c for c in self.checks if not c["ok"]]

    def artifact(self, name: str) -> str:
        p = self.artifacts / name
        return p.read_text(errors="replace") if p.exists() else ""


@dataclass(frozen=True)
class Target:
    """What a boot runs, resolved once per series (versions from apt, the
    module builds and the cached images) and passed down from here."""

    series: str
    abi: str
    builds: dict[str, kmod.ModuleBuild]
    xen: Path
    kernel: Path
    initrd: Path
    rootfs: Path
    timings: dict[str, float]


def prepare(series: str, patch_dir: Path | None = None) -> Target:
    """Everything a boot needs that does not depend on the scenario."""
    t0 = time.monotonic()
    abi = debian.kernel_abi(series)
    builds = {f: kmod.build(series, f, abi, patch_dir) for f in kmod.FLAVOURS}
    t1 = time.monotonic()
    # Xen loads dom0's ELF kernel as it is: no decompression in the hypervisor.
    xen, kernel = debian.xen_hypervisor(), elf_kernel(debian.kernel_tree(abi) / "boot" / f"vmlinuz-{abi}")
    initrd, rootfs = images.dom0_initramfs(abi), images.dom0_rootfs(abi)
    return Target(series, abi, builds, xen, kernel, initrd, rootfs,
                  {"module_build_s": round(t1 - t0, 1),
                   "images_s": round(time.monotonic() - t1, 1)})


def boot(machine: qemu.Machine, scenario_timeout: float) -> tuple[float, int]:
    """Run the machine within the scenario's bound plus boot and shutdown;
    return its seconds and how many boots it took.

    A machine that dies before dom0 has loaded our backend (a stock
    kernel stuck in its own disk driver under TCG, an emulator fault) is
    booted once more, and says so on stderr; any failure after that point
    is ours and fails at once."""
    for attempt in range(2):
        try:
            return qemu.run(machine, timeout=scenario_timeout + 180), attempt
        except LabError as e:
            if attempt or qemu.reached_our_code(machine.serial_log):
                raise
            kept = machine.serial_log.with_name("serial-first-boot.log")
            machine.serial_log.replace(kept)
            print(f"lab: the machine failed before loading our backend ({e.headline}); "
                  f"booting once more (first log: {kept})", file=sys.stderr)
    raise AssertionError("unreachable")


def run(name: str, series: str | None = None, artifacts: Path | None = None,
        patch_dir: Path | None = None, params: dict[str, str] | None = None) -> LabResult:
    """Build what is needed, boot the lab with scenario ``name`` and return
    its results.  ``patch_dir`` replaces patches/<series> for the patched
    build; ``series`` defaults to the oldest.  Raises LabError when the
    lab produced none.  ``params`` reach the scenario (labguest.param).
    """
    scenario = Scenario.load(name)
    series = series or kseries.default()
    kseries.load(series)
    target = prepare(series, patch_dir)
    out = artifacts or ARTIFACTS / f"{name}-{series}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    job = make_job(out, scenario, target.series, target.abi, target.builds, REPO, patch_dir,
                   params)
    result_disk = blank_disk(out / "result.img")
    # NVMe namespaces with PI: raw images (sparse data, blank PI), new at every boot.
    nvme = [qemu.NvmeDisk(qemu.NvmeDisk.image(out / f"nvme-{n.serial}.img", n.size_mib, n.lbs),
                          n.serial, n.pi, n.lbs, n.iops) for n in scenario.nvme]
    machine = qemu.Machine(
        xen=target.xen, kernel=target.kernel, initrd=target.initrd,
        drives=[qemu.Drive(target.rootfs, "LABROOT"), qemu.Drive(job, "LABJOB"),
                qemu.Drive(result_disk, "LABOUT", snapshot=False)],
        serial_log=out / "serial.log", nvme=nvme)
    try:
        seconds, retries = boot(machine, scenario.bound(params))
    finally:
        for n in nvme:
            n.path.unlink(missing_ok=True)
    results = out / "results"
    read_results(result_disk, results)
    result_disk.unlink()
    job.unlink()
    saved = results / "result.json"
    if not saved.exists():
        status = (results / "exit-status").read_text().strip() if (results / "exit-status").exists() else "none"
        raise LabError(f"scenario {name} saved no result (dom0 exit status {status}); "
                       f"serial log ends with:\n{qemu.serial_tail(machine.serial_log)}")
    data = json.loads(saved.read_text())
    timings = dict(target.timings)
    timings["qemu_s"] = round(seconds, 1)
    timings["boot_retries"] = retries
    for stage in ("uptime-init", "uptime-toolstack", "uptime"):
        f = results / stage
        if f.exists():
            timings[f"dom0_{stage.replace('-', '_')}_s"] = float(f.read_text().split()[0])
    res = LabResult(name, series, target.abi, data["facts"], data["checks"], results, timings)
    (out / "summary.json").write_text(json.dumps(
        {"scenario": name, "series": series, "abi": res.abi, "params": dict(params or {}),
         "qemu": qemu.version(),
         "timings": timings,
         "facts": res.facts, "checks": res.checks}, indent=2, default=str))
    return res
