"""The machine xendix runs on: who we are, where sysfs is, how to reach
xenstore and run ``xl``.  Tests build a Host with fakes."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .errors import NotDom0, NotRoot
from .xenstore import PyxsStore, Store

XL = "xl"


def run_command(argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run a command with a bound; output captured."""
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


@dataclass
class Host:
    """Injected access to the system.  ``store()`` connects on first use,
    after the root and dom0 checks."""

    sysfs: Path = Path("/sys")
    proc: Path = Path("/proc")
    euid: Callable[[], int] = os.geteuid
    connect: Callable[[], Store] = PyxsStore
    run: Callable[..., subprocess.CompletedProcess[str]] = run_command
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    udev: object | None = None  # a devices.DiskSource; None: pyudev if it loads, else sysfs
    _store: Store | None = field(default=None, repr=False)

    def preflight(self) -> None:
        """Root first (dom0's capabilities file is root-only), then dom0."""
        if self.euid() != 0:
            raise NotRoot("must be run as root")
        try:
            caps = (self.proc / "xen" / "capabilities").read_text()
        except OSError:
            caps = ""
        if "control_d" not in caps.split():
            raise NotDom0(f"not dom0: {self.proc}/xen/capabilities lacks control_d")

    def store(self) -> Store:
        if self._store is None:
            self.preflight()
            self._store = self.connect()
        return self._store

    def disks(self):
        """The dom0 block device source (pyudev when available)."""
        if self.udev is None:
            from .devices import default_source
            self.udev = default_source(self.sysfs)
        return self.udev
