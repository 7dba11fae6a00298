"""``xendix monitor``: vbd add/remove and state changes, from udev and xenstore."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Protocol

from .vbd import ADMIN_NODE, XENBUS_STATES, all_ids
from .xenstore import BACKEND_VBD, Store, Watch

WATCHED_NODES = ("state", "physical-device", "feature-data-integrity", ADMIN_NODE)


class EventSource(Protocol):
    """Something that yields events; ``poll`` waits at most ``timeout``."""

    def poll(self, timeout: float) -> list[dict[str, Any]]: ...
    def close(self) -> None: ...


@dataclass
class XenstoreSource:
    """Events from a watch on dom0's backend/vbd directory."""

    store: Store
    watch: Watch | None = None
    known: set[tuple[int, int]] = field(default_factory=set)
    values: dict[str, str | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.known = set(all_ids(self.store))
        for d, n in self.known:
            for node in WATCHED_NODES:
                path = f"{BACKEND_VBD}/{d}/{n}/{node}"
                self.values[path] = self.store.read(path)
        self.watch = self.store.watch([BACKEND_VBD])

    def poll(self, timeout: float) -> list[dict[str, Any]]:
        path = self.watch.get(timeout)
        return self.interpret(path) if path else []

    def interpret(self, path: str) -> list[dict[str, Any]]:
        """The events one changed path means (none for most paths)."""
        parts = path[len(BACKEND_VBD) + 1:].split("/") if path.startswith(BACKEND_VBD + "/") else []
        if len(parts) < 2 or not (parts[0].isdigit() and parts[1].isdigit()):
            return []
        ids = (int(parts[0]), int(parts[1]))
        be = f"{BACKEND_VBD}/{ids[0]}/{ids[1]}"
        present = self.store.read(f"{be}/frontend") is not None
        out: list[dict[str, Any]] = []
        if present and ids not in self.known:
            self.known.add(ids)
            out.append(event("xenstore", "add", *ids))
        elif not present and ids in self.known:
            self.known.discard(ids)
            for node in WATCHED_NODES:
                self.values.pop(f"{be}/{node}", None)
            out.append(event("xenstore", "remove", *ids))
        if present and len(parts) == 3 and parts[2] in WATCHED_NODES:
            value = self.store.read(path)
            if value is not None and self.values.get(path) != value:
                self.values[path] = value
                e = event("xenstore", "state" if parts[2] == "state" else "node", *ids,
                          node=parts[2], value=value)
                if parts[2] == "state" and value.isdigit():
                    e["state_name"] = XENBUS_STATES.get(int(value))
                out.append(e)
        return out

    def close(self) -> None:
        self.watch.close()


class UdevSource:
    """Kernel device events of subsystem xen-backend, through pyudev."""

    def __init__(self) -> None:
        import pyudev

        self.monitor = pyudev.Monitor.from_netlink(pyudev.Context())
        self.monitor.filter_by("xen-backend")
        self.monitor.start()

    def poll(self, timeout: float) -> list[dict[str, Any]]:
        dev = self.monitor.poll(timeout=timeout)
        if dev is None or not dev.sys_name.startswith("vbd-"):
            return []
        try:
            _, d, n = dev.sys_name.split("-")
            return [event("udev", dev.action or "change", int(d), int(n))]
        except ValueError:
            return []

    def close(self) -> None:
        pass


def event(source: str, kind: str, domid: int, devid: int, **extra: Any) -> dict[str, Any]:
    """One monitor event (its JSON line)."""
    return {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "source": source, "event": kind,
            "vbd": f"vbd-{domid}-{devid}", "domid": domid, "devid": devid, **extra}


def stream(sources: list[EventSource], count: int | None, timeout: float | None,
           clock: Callable[[], float] = time.monotonic, slice_s: float = 0.2) -> Iterator[dict[str, Any]]:
    """Events from every source in turn until ``count`` events or ``timeout`` seconds."""
    end = None if timeout is None else clock() + timeout
    seen = 0
    while (count is None or seen < count) and (end is None or clock() < end):
        for src in sources:
            for e in src.poll(slice_s):
                yield e
                seen += 1
                if count is not None and seen >= count:
                    return


def run(host, count: int | None, timeout: float | None) -> Iterator[dict[str, Any]]:
    """Events from xenstore and, where pyudev and udevd are there, udev."""
    store = host.store()  # the root, dom0 and xenstore checks first
    sources: list[EventSource] = []
    try:
        sources.append(UdevSource())
    except Exception:  # no libudev: xenstore alone
        pass
    sources.append(XenstoreSource(store))
    try:
        yield from stream(sources, count, timeout, host.clock)
    finally:
        for s in sources:
            s.close()
