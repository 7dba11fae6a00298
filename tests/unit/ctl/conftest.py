"""Fakes for xendix: a dict-backed xenstore, a sysfs tree, a Host without Xen."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CTL = Path(__file__).resolve().parents[3] / "ctl"
if str(CTL) not in sys.path:
    sys.path.insert(0, str(CTL))

from xendix.devices import SysfsSource  # noqa: E402
from xendix.host import Host  # noqa: E402

BE = "/local/domain/0/backend/vbd"
SAME = "<the backend's format>"  # add_vbd's default for the frontend's confirmation


class FakeWatch:
    def __init__(self, store: "FakeStore", paths: list[str]) -> None:
        self.store, self.paths, self.events = store, paths, []
        store.watches.append(self)

    def notify(self, path: str) -> None:
        if any(path == p or path.startswith(p + "/") for p in self.paths):
            self.events.append(path)

    def get(self, timeout: float) -> str | None:
        if not self.events and self.store.on_idle:
            self.store.on_idle.pop(0)()
        return self.events.pop(0) if self.events else None

    def close(self) -> None:
        self.store.watches.remove(self)


class FakeStore:
    """xenstore as a dict.  Writes in a transaction land at commit;
    ``conflicts`` makes that many commits fail with EAGAIN first.
    ``committed`` logs every write that landed."""

    def __init__(self, nodes: dict[str, str] | None = None) -> None:
        self.nodes: dict[str, str] = dict(nodes or {})
        self.pending: dict[str, str | None] | None = None
        self.conflicts = 0
        self.commits = 0
        self.begins = 0
        self.committed: list[tuple[str, str | None]] = []
        self.watches: list[FakeWatch] = []
        self.on_idle: list = []  # callables run when a watch finds no event

    def _view(self) -> dict[str, str]:
        if self.pending is None:
            return self.nodes
        view = dict(self.nodes)
        for k, v in self.pending.items():
            if v is None:
                for n in [n for n in view if n == k or n.startswith(k + "/")]:
                    del view[n]
            else:
                view[k] = v
        return view

    def read(self, path: str) -> str | None:
        view = self._view()
        if path in view:
            return view[path]
        return "" if any(n.startswith(path + "/") for n in view) else None

    def list(self, path: str) -> list[str]:
        pre = path.rstrip("/") + "/"
        return sorted({n[len(pre):].split("/")[0] for n in self._view() if n.startswith(pre)})

    def _land(self, path: str, value: str | None) -> None:
        if value is None:
            for n in [n for n in self.nodes if n == path or n.startswith(path + "/")]:
                del self.nodes[n]
        else:
            self.nodes[path] = value
        self.committed.append((path, value))
        for w in list(self.watches):
            w.notify(path)

    def write(self, path: str, value: str) -> None:
        if self.pending is not None:
            self.pending[path] = value
        else:
            self._land(path, value)

    def rm(self, path: str) -> None:
        if self.pending is not None:
            self.pending[path] = None
        else:
            self._land(path, None)

    def begin(self) -> None:
        assert self.pending is None, "nested transaction"
        self.begins += 1
        self.pending = {}

    def commit(self) -> bool:
        pending, self.pending = self.pending, None
        self.commits += 1
        if self.conflicts:
            self.conflicts -= 1
            return False
        for k, v in pending.items():
            self._land(k, v)
        return True

    def abort(self) -> None:
        self.pending = None

    def watch(self, paths: list[str]) -> FakeWatch:
        return FakeWatch(self, paths)

    # -- builders ---------------------------------------------------------
    def add_domain(self, domid: int, name: str) -> None:
        self.nodes[f"/local/domain/{domid}/name"] = name

    def add_vbd(self, domid: int, devid: int, vdev: str, params: str = "/dev/sda",
                phys: str | None = "8:0", be_state: int = 4, fe_state: int = 4,
                advertised: str | None = "1", negotiated: str | None = "1",
                admin: str | None = None, profile: bool = True,
                confirmed: str | None = SAME) -> str:
        """A vbd; ``confirmed`` is the frontend's data-integrity-format: by
        default the backend's format when both ends opted in, None for absent."""
        be, fe = f"{BE}/{domid}/{devid}", f"/local/domain/{domid}/device/vbd/{devid}"
        n = self.nodes
        n.update({f"{be}/frontend": fe, f"{be}/frontend-id": str(domid), f"{be}/dev": vdev,
                  f"{be}/params": params, f"{be}/mode": "w", f"{be}/type": "phy",
                  f"{be}/script": "/etc/xen/scripts/block", f"{be}/state": str(be_state),
                  f"{fe}/backend": be, f"{fe}/state": str(fe_state)})
        if phys:
            n[f"{be}/physical-device"] = phys
        if advertised is not None:
            n[f"{be}/feature-data-integrity"] = advertised
            if advertised == "1" and profile:
                n.update({f"{be}/data-integrity-format": "T10-DIF-TYPE1-CRC",
                          f"{be}/data-integrity-interval": "512",
                          f"{be}/data-integrity-tuple-size": "8",
                          f"{be}/data-integrity-tag-size": "2"})
        if negotiated is not None:
            n[f"{fe}/feature-data-integrity"] = negotiated
        if confirmed is SAME:
            confirmed = n.get(f"{be}/data-integrity-format") if negotiated == "1" else None
        if confirmed is not None:
            n[f"{fe}/data-integrity-format"] = confirmed
        if admin is not None:
            n[f"{be}/data-integrity-enable"] = admin
        return be


def make_disk(sysfs: Path, name: str, major: int, minor: int, fmt: str = "none",
              interval: int = 512, tag: int = 2, size_sectors: int = 131072,
              parts: int = 0) -> Path:
    """A disk in a fake sysfs: devices/<name>, block/<name> and dev/block/M:m links."""
    d = sysfs / "devices" / "virtual" / "block" / name
    (d / "integrity").mkdir(parents=True)
    (d / "dev").write_text(f"{major}:{minor}\n")
    (d / "size").write_text(f"{size_sectors}\n")
    i = d / "integrity"
    (i / "format").write_text(fmt + "\n")
    known = fmt != "none"
    (i / "protection_interval_bytes").write_text(f"{interval if known else 0}\n")
    (i / "tag_size").write_text(f"{tag if known else 0}\n")
    (i / "device_is_integrity_capable").write_text("1\n" if known else "0\n")
    for sub in ("block", "dev/block"):
        (sysfs / sub).mkdir(parents=True, exist_ok=True)
    (sysfs / "block" / name).symlink_to(d)
    (sysfs / "dev" / "block" / f"{major}:{minor}").symlink_to(d)
    for p in range(1, parts + 1):
        pd = d / f"{name}{p}"
        pd.mkdir()
        (pd / "partition").write_text(f"{p}\n")
        (pd / "dev").write_text(f"{major}:{minor + p}\n")
        (pd / "size").write_text("2048\n")
        (sysfs / "dev" / "block" / f"{major}:{minor + p}").symlink_to(pd)
    return d


def make_stats(sysfs: Path, domid: int, devid: int, **counters: int) -> None:
    s = sysfs / "bus" / "xen-backend" / "devices" / f"vbd-{domid}-{devid}" / "statistics"
    s.mkdir(parents=True)
    for k, v in {"rd_req": 0, "wr_req": 0, "oo_req": 0, "dix_req": 0, "dix_err": 0, **counters}.items():
        (s / k).write_text(f"{v}\n")


class FakeRun:
    """Records commands; answers from ``results`` (argv[1] -> returncode, stderr)."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.results: dict[str, tuple[int, str]] = {}
        self.effects: dict[str, object] = {}

    def __call__(self, argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        self.calls.append(argv)
        rc, err = self.results.get(argv[1], (0, ""))
        if argv[1] in self.effects:
            self.effects[argv[1]](argv)
        return subprocess.CompletedProcess(argv, rc, "", err)


@pytest.fixture
def sysfs(tmp_path: Path) -> Path:
    root = tmp_path / "sys"
    root.mkdir()
    make_disk(root, "sda", 8, 0, "T10-DIF-TYPE1-CRC")
    make_disk(root, "ram1", 1, 1)
    return root


@pytest.fixture
def proc(tmp_path: Path) -> Path:
    p = tmp_path / "proc"
    (p / "xen").mkdir(parents=True)
    (p / "xen" / "capabilities").write_text("control_d\n")
    return p


@pytest.fixture
def store() -> FakeStore:
    s = FakeStore()
    s.add_domain(0, "Domain-0")
    s.add_domain(1, "web")
    return s


@pytest.fixture
def host(store: FakeStore, sysfs: Path, proc: Path) -> Host:
    clock = [0.0]

    def sleep(s: float) -> None:
        clock[0] += s

    return Host(sysfs=sysfs, proc=proc, euid=lambda: 0, connect=lambda: store, run=FakeRun(),
                sleep=sleep, clock=lambda: clock[0], udev=SysfsSource(sysfs))
