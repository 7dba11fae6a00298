"""What every part of labguest uses: the job, bounded commands and waits,
sysfs reads and kernel-log checks."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

LAB = Path(os.environ.get("LAB_DIR", "/lab"))
OUT = Path(os.environ.get("LAB_OUT", "/run/lab-out"))
KERNEL_PROBLEM = re.compile(r"\b(BUG:|WARNING:|Oops|general protection fault|Call Trace:|kernel BUG)")


def job() -> dict[str, Any]:
    """The job description the host wrote (series, abi, srcversions...)."""
    return json.loads((LAB / "job.json").read_text())


def param(name: str, default: str = "") -> str:
    """A parameter of this run (``python -m lab run NAME --set KEY=VALUE``)."""
    return str(job().get("params", {}).get(name, default))


def sh(*argv: str, timeout: float = 60, check: bool = True,
       input_: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command with a time bound; its output is captured."""
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=input_)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {proc.returncode}: {proc.stderr.strip()}")
    return proc


def wait_until(predicate, timeout: float, interval: float = 0.2) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def read(path: str | Path, default: str = "") -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return default


def kernel_log_problems(text: str) -> list[str]:
    """Lines of a kernel log that show a BUG, WARNING or Oops."""
    return [line for line in text.splitlines() if KERNEL_PROBLEM.search(line)]
