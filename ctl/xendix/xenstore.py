"""Xenstore access through pyxs: reads, transactions with retry, watches.

Everything else in xendix talks to a :class:`Store`; tests give it a
dict-backed fake instead of :class:`PyxsStore`.
"""

from __future__ import annotations

import errno
import os
import queue
from typing import Callable, Protocol, TypeVar

from .errors import NoXenstore, XendixError

T = TypeVar("T")
DEFAULT_SOCKET = "/var/run/xenstored/socket"
BACKEND_VBD = "/local/domain/0/backend/vbd"
MAX_ATTEMPTS = 16


class Store(Protocol):
    """What xendix needs from xenstore.  Paths and values are str."""

    def read(self, path: str) -> str | None: ...
    def list(self, path: str) -> list[str]: ...
    def write(self, path: str, value: str) -> None: ...
    def rm(self, path: str) -> None: ...
    def begin(self) -> None: ...
    def commit(self) -> bool: ...
    def abort(self) -> None: ...
    def watch(self, paths: list[str]) -> "Watch": ...


class Watch(Protocol):
    """A stream of changed paths under the watched ones."""

    def get(self, timeout: float) -> str | None: ...
    def close(self) -> None: ...


def socket_path() -> str:
    """The xenstored socket, as pyxs and libxenstore find it."""
    return os.environ.get("XENSTORED_PATH") or os.path.join(
        os.environ.get("XENSTORED_RUNDIR", "/var/run/xenstored"), "socket")


def transaction(store: Store, body: Callable[[Store], T], attempts: int = MAX_ATTEMPTS) -> T:
    """Run ``body(store)`` inside one xenstore transaction, again from the
    start while xenstored answers EAGAIN.  Any exception aborts it: either
    every write of ``body`` lands or none does."""
    for _ in range(attempts):
        store.begin()
        try:
            result = body(store)
        except BaseException:
            store.abort()
            raise
        if store.commit():
            return result
    raise XendixError(f"xenstore transaction still conflicting after {attempts} attempts")


class PyxsStore:
    """A :class:`Store` over a pyxs client on xenstored's Unix socket."""

    def __init__(self, path: str | None = None) -> None:
        import pyxs  # only here: tests never load it

        self._pyxs = pyxs
        self.path = path or socket_path()
        if not os.path.exists(self.path):
            raise NoXenstore(f"no xenstored: {self.path} does not exist")
        self.client = pyxs.Client(unix_socket_path=self.path)
        try:
            self.client.connect()
        except pyxs.PyXSError as e:
            raise NoXenstore(f"no xenstored at {self.path}: {e}") from None
        except OSError as e:
            raise NoXenstore(f"no xenstored at {self.path}: {e.strerror or e}") from None

    def _call(self, fn: Callable[..., T], *args: bytes) -> T:
        try:
            return fn(*args)
        except self._pyxs.PyXSError as e:
            if e.args and e.args[0] == errno.ENOENT:
                raise FileNotFoundError(args[0].decode()) from None
            if isinstance(e, self._pyxs.ConnectionError):
                raise NoXenstore(f"lost xenstored at {self.path}: {e}") from None
            raise XendixError(f"xenstore: {e}") from None

    def read(self, path: str) -> str | None:
        """The value as str; bytes that are not UTF-8 (a guest may write
        any) are kept with ``surrogateescape``, see :mod:`untrusted`."""
        try:
            return self._call(self.client.read, path.encode()).decode("utf-8", "surrogateescape")
        except FileNotFoundError:
            return None

    def list(self, path: str) -> list[str]:
        try:
            return sorted(n.decode() for n in self._call(self.client.list, path.encode()))
        except FileNotFoundError:
            return []

    def write(self, path: str, value: str) -> None:
        self._call(self.client.write, path.encode(), value.encode())

    def rm(self, path: str) -> None:
        try:
            self._call(self.client.delete, path.encode())
        except FileNotFoundError:
            pass

    def begin(self) -> None:
        self._call(self.client.transaction)

    def commit(self) -> bool:
        return self._call(self.client.commit)

    def abort(self) -> None:
        try:
            self.client.rollback()
        except self._pyxs.PyXSError:
            self.client.tx_id = 0

    def watch(self, paths: list[str]) -> "PyxsWatch":
        return PyxsWatch(self.client.monitor(), paths)

    def close(self) -> None:
        self.client.close()


class PyxsWatch:
    """Watches on a pyxs Monitor; ``get`` waits on its event queue with a bound
    (pyxs's own ``wait`` has none)."""

    def __init__(self, monitor, paths: list[str]) -> None:
        self.monitor = monitor
        for i, p in enumerate(paths):
            monitor.watch(p.encode(), f"xendix{i}".encode())

    def get(self, timeout: float) -> str | None:
        try:
            event = self.monitor.events.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return None
        return event[0].decode()

    def close(self) -> None:
        try:
            self.monitor.close()
        except Exception:  # the connection may already be gone
            pass
