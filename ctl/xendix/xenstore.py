"""Xenstore access through pyxs: reads, transactions with retry, watches.

Everything else in xendix talks to a :class:`Store`; tests give it a
dict-backed fake instead of :class:`PyxsStore`.

Every call to xenstored has a deadline.  pyxs waits for an answer without
one, so :class:`PyxsStore` runs each pyxs call (the connect included) in a
worker thread and waits for it at most ``$XENDIX_XENSTORE_TIMEOUT`` seconds
(``DEFAULT_TIMEOUT``, 5, when unset; a value that is not a number of
seconds above 0 and at most ``MAX_TIMEOUT`` is a :class:`Usage` error, 2).  A
xenstored that accepts the connection and never answers, or that closes
it, ends the command with :class:`NoXenstore` (exit 4) and one line:
``xenstored did not answer within 5 s (PATH)`` or ``xenstored closed the
connection (PATH)``.  The store then fails every later call at once: a
late answer could belong to any request.  A watch waits for events with
its caller's bound, and a closed connection ends that wait too.  pyxs's
router thread (which reads the answers) runs in a thread of ours, so a
closed socket ends it without a traceback on stderr.
"""

from __future__ import annotations

import errno
import os
import queue
import threading
import time
from typing import Any, Callable, Protocol, TypeVar

from .errors import NoXenstore, Usage, XendixError

T = TypeVar("T")
BACKEND_VBD = "/local/domain/0/backend/vbd"
MAX_ATTEMPTS = 16
TIMEOUT_ENV = "XENDIX_XENSTORE_TIMEOUT"
DEFAULT_TIMEOUT = 5.0
MAX_TIMEOUT = 3600.0
POLL = 0.05  # how often a wait looks whether xenstored closed the connection


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


def call_timeout() -> float:
    """The deadline of one xenstore call, in seconds: ``$XENDIX_XENSTORE_TIMEOUT``
    or ``DEFAULT_TIMEOUT``."""
    raw = os.environ.get(TIMEOUT_ENV, "")
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 0 < value <= MAX_TIMEOUT:  # NaN fails too
        raise Usage(f"{TIMEOUT_ENV} must be a number of seconds above 0 and at most "
                         f"{MAX_TIMEOUT:g}, not {raw[:40]!r}")
    return value


def quiet_router(router: Any, on_end: Callable[[], None]) -> None:
    """Give pyxs's router loop (the thread that reads xenstored's answers)
    a thread of ours: when xenstored closes or garbles the connection, the
    loop's error ends it quietly (no traceback on stderr) and ``on_end``
    tells the calls still waiting for an answer."""

    def loop() -> None:
        try:
            router()
        except Exception:  # the connection is gone: on_end says so
            pass
        finally:
            on_end()

    router.thread = threading.Thread(target=loop, name="xenstore-router", daemon=True)


def _deliver(outcome: queue.SimpleQueue, fn: Callable[..., Any], args: tuple[bytes, ...]) -> None:
    """Run ``fn(*args)`` and put (True, result) or (False, exception) in ``outcome``."""
    try:
        outcome.put((True, fn(*args)))
    except Exception as e:
        outcome.put((False, e))


class PyxsStore:
    """A :class:`Store` over a pyxs client on xenstored's Unix socket, every
    call bounded by ``timeout`` seconds (see the module's docstring)."""

    timeout: float = DEFAULT_TIMEOUT
    _failure: str | None = None  # why the connection is unusable, once it is

    def __init__(self, path: str | None = None) -> None:
        import pyxs  # only here: a Host with a fake store never loads it

        self._pyxs = pyxs
        self.timeout = call_timeout()
        self.path = path or socket_path()
        if not os.path.exists(self.path):
            raise NoXenstore(f"no xenstored: {self.path} does not exist")
        self.client = pyxs.Client(unix_socket_path=self.path)
        quiet_router(self.client.router, self._closed)
        try:
            self._bounded(self.client.connect)
        except pyxs.PyXSError as e:
            raise NoXenstore(f"no xenstored at {self.path}: {e}") from None

    def _fail(self, message: str) -> NoXenstore:
        """Mark the connection unusable from now on; the error to raise."""
        self._failure = message
        return NoXenstore(message)

    def _closed(self) -> None:
        """The router thread's end: xenstored (or :meth:`close`) closed the connection."""
        if self._failure is None:
            self._failure = f"xenstored closed the connection ({self.path})"

    def check(self) -> None:
        """Raise :class:`NoXenstore` if the connection stalled or closed."""
        if self._failure:
            raise NoXenstore(self._failure)

    def _bounded(self, fn: Callable[..., T], *args: bytes) -> T:
        """``fn(*args)`` in a worker thread, waited for at most ``timeout``
        seconds and no longer than the connection lives."""
        self.check()
        outcome: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=_deliver, args=(outcome, fn, args),
                         name="xenstore-call", daemon=True).start()
        end = time.monotonic() + self.timeout
        while True:
            try:
                ok, value = outcome.get(timeout=min(POLL, max(end - time.monotonic(), 0.0)))
                break
            except queue.Empty:
                self.check()
                if time.monotonic() >= end:
                    raise self._fail(f"xenstored did not answer within {self.timeout:g} s "
                                     f"({self.path})") from None
        if not ok:
            raise value
        return value

    def _call(self, fn: Callable[..., T], *args: bytes) -> T:
        try:
            return self._bounded(fn, *args)
        except self._pyxs.PyXSError as e:
            if e.args and e.args[0] == errno.ENOENT:
                raise FileNotFoundError(args[0].decode()) from None
            if isinstance(e, self._pyxs.ConnectionError):
                self._closed()
                raise NoXenstore(self._failure) from None
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
        """End the transaction without its writes.  Quiet: the caller is
        already failing, and a gone xenstored has dropped it anyway."""
        try:
            self._call(self.client.rollback)
        except XendixError:
            self.client.tx_id = 0

    def watch(self, paths: list[str]) -> "PyxsWatch":
        return PyxsWatch(self, paths)

    def close(self) -> None:
        """Disconnect; a connection that stalled or closed is left as it is."""
        try:
            self._bounded(self.client.close)
        except NoXenstore:
            pass


class PyxsWatch:
    """Watches on a pyxs Monitor; ``get`` waits on its event queue with a
    bound (pyxs's own ``wait`` has none) and notices a closed connection."""

    def __init__(self, store: PyxsStore, paths: list[str]) -> None:
        self.store = store
        self.monitor = store.client.monitor()
        for i, p in enumerate(paths):
            store._call(self.monitor.watch, p.encode(), f"xendix{i}".encode())

    def get(self, timeout: float) -> str | None:
        """The next changed path, or None after ``timeout`` seconds."""
        end = time.monotonic() + max(timeout, 0.0)
        while True:
            try:
                event = self.monitor.events.get(timeout=min(POLL, max(end - time.monotonic(), 0.0)))
                return event[0].decode("utf-8", "surrogateescape")
            except queue.Empty:
                self.store.check()
                if time.monotonic() >= end:
                    return None

    def close(self) -> None:
        """Remove the watches, unless the connection is already gone."""
        try:
            self.store._call(self.monitor.close)
        except XendixError:
            pass
