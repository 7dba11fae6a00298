"""A scenario's facts and checks, saved as result.json for the host."""

from __future__ import annotations

import json
import time
from typing import Any

from .base import OUT


class Scenario:
    """Facts and checks of one scenario, saved as result.json."""

    def __init__(self) -> None:
        self.facts: dict[str, Any] = {}
        self.checks: list[dict[str, Any]] = []
        self.started = time.monotonic()

    def fact(self, name: str, value: Any) -> Any:
        self.facts[name] = value
        print(f"lab: {self.elapsed()} fact {name} = {value!r}", flush=True)
        return value

    def check(self, name: str, ok: bool, **details: Any) -> bool:
        self.checks.append({"name": name, "ok": bool(ok), **details})
        print(f"lab: {self.elapsed()} {'PASS' if ok else 'FAIL'} {name} {details if details else ''}",
              flush=True)
        return bool(ok)

    def elapsed(self) -> str:
        """Seconds since the scenario started, for the log: where time went."""
        return f"[{time.monotonic() - self.started:6.1f}s]"

    def save(self) -> None:
        self.facts.setdefault("scenario_seconds", round(time.monotonic() - self.started, 1))
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "result.json").write_text(json.dumps(
            {"facts": self.facts, "checks": self.checks}, indent=2, sort_keys=True))
