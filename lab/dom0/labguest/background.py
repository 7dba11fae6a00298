"""Commands that run in dom0 beside a domU, e.g. ``xendix snoop``: started,
waited for and stopped with Ctrl-C (SIGINT), each wait bounded.  What they
print lands in files in the results (OUT), one pair a command."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from .base import OUT, wait_until


class Background:
    """One command in the background; ``name`` names its output files."""

    def __init__(self, name: str, argv: list[str]) -> None:
        self.name = name
        self.argv = argv
        self.out = OUT / f"{name}.stdout"
        self.err = OUT / f"{name}.stderr"
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                         cwd="/", env=dict(os.environ))
        self.started = time.monotonic()
        self.rc: int | None = None

    def text(self) -> str:
        """Everything it printed so far, stdout then stderr."""
        return self.stdout() + self.stderr()

    def stdout(self) -> str:
        return self.out.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float) -> bool:
        """Until ``text`` appears in its output (False if it exits first or
        ``timeout`` seconds pass)."""
        return wait_until(lambda: text in self.text() or self.proc.poll() is not None,
                          timeout, interval=0.5) and text in self.text()

    def stop(self, timeout: float = 60) -> int:
        """Ctrl-C, then wait at most ``timeout`` seconds (SIGKILL after)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.rc = self.proc.wait(10)
        return self.rc

    def lines(self) -> list[str]:
        return [l for l in self.stdout().splitlines() if l.strip()]
