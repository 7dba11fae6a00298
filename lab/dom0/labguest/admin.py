"""xendix as dom0's administrator runs it: ``python3 -m xendix ARGS``,
bounded, its output captured."""

from __future__ import annotations

import os
import subprocess


def xendix(*args: str, env: dict[str, str] | None = None, nobody: bool = False,
           timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """Run ``python3 -m xendix ARGS`` in dom0 (as nobody with ``nobody``);
    a run that overstays ``timeout`` comes back with returncode -1."""
    argv = ["python3", "-m", "xendix", *args]
    if nobody:
        argv = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *argv]
    full_env = {**os.environ, **(env or {})}
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=full_env,
                              cwd="/")
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        return subprocess.CompletedProcess(argv, -1, out, f"timeout after {timeout}s")


def summary(p: subprocess.CompletedProcess[str]) -> dict[str, object]:
    """A run, short enough for a fact."""
    return {"argv": p.args[-6:], "rc": p.returncode, "stdout": p.stdout[-3000:],
            "stderr": p.stderr[-2000:]}
