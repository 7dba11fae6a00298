"""A lab domU: its xl config, its life (create, wait, finish, destroy)
and the console protocol through which its script reports."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .base import LAB, OUT, kernel_log_problems, read, sh, wait_until
from .xs import XL, XVDB, backend_dir, frontend_dir

CONSOLE_LOGS = Path("/var/log/xen/console")
# xl's disk "script=": lab/dom0/vbd-hotplug, shipped with this package.
LEAN_HOTPLUG = Path(__file__).resolve().parent.parent / "vbd-hotplug"


@dataclass
class DomuRun:
    """What one domU did: its records, its log and whether it finished."""

    name: str
    records: list[dict[str, Any]] = field(default_factory=list)
    script_log: list[str] = field(default_factory=list)
    dmesg: list[str] = field(default_factory=list)
    exit_status: int | None = None
    timed_out: bool = False
    create_error: str = ""
    seconds: float = 0.0

    @property
    def finished(self) -> bool:
        return self.exit_status is not None and not self.timed_out and not self.create_error

    def record(self, name: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("record") == name]

    def kernel_problems(self) -> list[str]:
        return kernel_log_problems("\n".join(self.dmesg))


def domain_exists(name: str) -> bool:
    return sh(XL, "domid", name, check=False, timeout=20).returncode == 0


def parse_console(text: str, run: DomuRun) -> None:
    """Pick the tagged lines out of a domU's console log."""
    for raw in text.splitlines():
        line = raw.rstrip("\r")
        for tag, sink in (("@@LAB@@ ", None), ("@@LOG@@ ", run.script_log),
                          ("@@DMESG@@ ", run.dmesg)):
            i = line.find(tag)
            if i < 0:
                continue
            payload = line[i + len(tag):]
            if sink is not None:
                sink.append(payload)
            else:
                try:
                    run.records.append(json.loads(payload))
                except json.JSONDecodeError:
                    run.script_log.append("unparsable record: " + payload)
        i = line.find("@@LAB-END@@ ")
        if i >= 0:
            try:
                run.exit_status = int(line[i + 12:].split()[0])
            except (ValueError, IndexError):
                run.exit_status = -1


def front_params_arg(params: dict[str, Any] | None) -> str:
    """The domU kernel argument that hands xen-blkfront its module
    parameters (domu-init passes them to insmod): ``lab.frontparams=a=1,b=2``."""
    if not params:
        return ""
    for k, v in params.items():
        if not re.fullmatch(r"[A-Za-z0-9_]+", k) or not re.fullmatch(r"[A-Za-z0-9_]+", str(v)):
            raise ValueError(f"unsafe blkfront parameter {k}={v}")
    return " lab.frontparams=" + ",".join(f"{k}={v}" for k, v in params.items())


def lean_disk(dev: str, vdev: str) -> str:
    """An xl disk spec for ``dev`` with the lean hotplug script: what
    /etc/xen/scripts/block does for a phy: disk without its locking and
    sharing checks, which take 10-15 s a disk under TCG (libxl gives a
    disk 40 s; three disks in one domU miss that on a busy host)."""
    return f"format=raw,vdev={vdev},access=rw,script={LEAN_HOTPLUG},target={dev}"


def domu_config(name: str, disks: list[str], script: str, frontend: str, memory: int,
                front_params: dict[str, Any] | None = None, vcpus: int = 1,
                kernel: str = "domu") -> Path:
    """``kernel``: ``domu`` (dom0's series) or ``domu-other`` (the other
    series, for a scenario with ``other_series_domu``)."""
    if kernel not in ("domu", "domu-other"):
        raise ValueError(f"kernel is domu or domu-other, not {kernel!r}")
    cfg = Path("/run") / f"{name}.cfg"
    # loglevel=1: the console carries the script's records, and a kernel
    # message printed while a record is on its way splits that record's
    # line (hvc pushes a tty write in pieces).  The kernel log still comes
    # whole at the end (@@DMESG@@), and a panic still prints.
    disk_list = ", ".join(json.dumps(d) for d in disks)
    cfg.write_text(
        f'name = "{name}"\ntype = "pv"\n'
        f'kernel = "{LAB}/{kernel}/kernel"\nramdisk = "{LAB}/{kernel}/initrd.gz"\n'
        f'extra = "console=hvc0 loglevel=1 lab.script={script} lab.front={frontend}'
        f'{front_params_arg(front_params)}"\n'
        f"memory = {memory}\nvcpus = {vcpus}\nvif = []\ndisk = [ {disk_list} ]\n"
        'on_poweroff = "destroy"\non_reboot = "destroy"\non_crash = "destroy"\n')
    return cfg


class Domu:
    """A running lab domU.  ``start`` creates it; ``wait_record`` follows
    its console while it runs; ``finish`` waits (bounded) until it powers
    off and returns what it did."""

    def __init__(self, name: str, disks: list[str], script: str, frontend: str = "patched",
                 memory: int = 256, front_params: dict[str, Any] | None = None,
                 vcpus: int = 1, kernel: str = "domu") -> None:
        self.run = DomuRun(name)
        self.name = name
        self.log = CONSOLE_LOGS / f"guest-{name}.log"
        self.cfg = domu_config(name, disks, script, frontend, memory, front_params, vcpus, kernel)
        self.started = 0.0

    def console_logs(self) -> list[Path]:
        """Every console log of this domU, oldest first: those of earlier
        lives (:meth:`new_life`), the incoming domain's of a migration
        (xenconsoled names it before xl renames the domain), the current."""
        old = sorted(CONSOLE_LOGS.glob(f"guest-{self.name}.log.*"),
                     key=lambda p: int(p.suffix[1:]) if p.suffix[1:].isdigit() else 0)
        return [*old, CONSOLE_LOGS / f"guest-{self.name}--incoming.log", self.log]

    def console_text(self) -> str:
        return "\n".join(read(p) for p in self.console_logs() if p.exists())

    def new_life(self) -> None:
        """Before a save or a migration: keep the console log so far under
        its own name, so that the next domain's log starts a new file."""
        lives = len(self.console_logs()) - 1
        if self.log.exists():
            self.log.rename(self.log.with_name(f"{self.log.name}.{lives}"))
        incoming = CONSOLE_LOGS / f"guest-{self.name}--incoming.log"
        if incoming.exists():
            incoming.rename(self.log.with_name(f"{self.log.name}.{lives + 1}"))

    def start(self, paused: bool = False) -> bool:
        """Create the domU; ``paused`` leaves it paused (its frontends not
        yet connected) until :meth:`unpause`."""
        for log in self.console_logs():
            log.unlink(missing_ok=True)
        self.started = time.monotonic()
        created = sh(XL, "create", *(["-p"] if paused else []), str(self.cfg),
                     check=False, timeout=120)
        if created.returncode != 0:
            self.run.create_error = (created.stderr or created.stdout).strip()[-2000:]
            return False
        return True

    def unpause(self) -> None:
        sh(XL, "unpause", self.name)

    @property
    def domid(self) -> int:
        return int(sh(XL, "domid", self.name, timeout=20).stdout.strip())

    def backend(self, devid: int = XVDB) -> str:
        """The xenstore directory of this domU's vbd backend."""
        return backend_dir(self.domid, devid)

    def frontend(self, devid: int = XVDB) -> str:
        """The xenstore directory of this domU's vbd frontend."""
        return frontend_dir(self.domid, devid)

    def records_so_far(self) -> list[dict[str, Any]]:
        partial = DomuRun(self.name)
        parse_console(self.console_text(), partial)
        return partial.records

    def wait_record(self, name: str, timeout: float = 120, **match: Any) -> dict[str, Any] | None:
        """Wait until the domU has emitted a record called ``name`` whose
        fields include ``match``; None if it never does (or it died)."""
        found: list[dict[str, Any]] = []

        def wanted(r: dict[str, Any]) -> bool:
            return r.get("record") == name and all(r.get(k) == v for k, v in match.items())

        def seen() -> bool:
            found[:] = [r for r in self.records_so_far() if wanted(r)]
            return bool(found) or not domain_exists(self.name)

        wait_until(seen, timeout, interval=0.5)
        return found[0] if found else None

    def finish(self, timeout: float = 240) -> DomuRun:
        """Wait, at most ``timeout`` seconds from now, until the domU has
        powered off (else destroy it), and collect what it printed."""
        run = self.run
        if run.create_error:
            return run
        if not wait_until(lambda: not domain_exists(self.name), timeout, interval=0.5):
            run.timed_out = True
            sh(XL, "destroy", self.name, check=False, timeout=60)
        run.seconds = round(time.monotonic() - self.started, 1)
        time.sleep(0.5)  # let xenconsoled drain the last lines
        text = self.console_text()
        (OUT / f"domu-{self.name}-console.log").write_text(text)
        parse_console(text, run)
        return run


def run_domu(name: str, disks: list[str], script: str, frontend: str = "patched",
             memory: int = 256, timeout: float = 240,
             front_params: dict[str, Any] | None = None) -> DomuRun:
    """Create a PV domU that runs ``script`` against ``disks`` and wait,
    bounded, until it powers off.  A domU that does not finish in time is
    destroyed and reported as timed out."""
    domu = Domu(name, disks, script, frontend, memory, front_params)
    domu.start()
    return domu.finish(timeout)


def only_dom0_left(timeout: float = 30) -> bool:
    """True once no domU, not even a dying one, is left.  A domain whose
    grants dom0 still maps cannot die and stays as a zombie."""
    def alone() -> bool:
        lines = sh(XL, "list", check=False, timeout=20).stdout.strip().splitlines()
        return len(lines) == 2  # the header and Domain-0
    return wait_until(alone, timeout, interval=0.5)
