"""PyxsStore, the real pyxs path, against a xenstored speaking the wire
protocol: every call answers, or ends within its deadline with NoXenstore."""

from __future__ import annotations

import queue
import socket
import threading
import time
from typing import Any, Callable

import pytest
from click.testing import CliRunner

from xendix import errors
from xendix.cli import main
from xendix.errors import NoXenstore, Usage, XendixError
from xendix.xenstore import (DEFAULT_TIMEOUT, MAX_ATTEMPTS, TIMEOUT_ENV, PyxsStore, call_timeout,
                             transaction)

from .fake_xenstored import XS_TRANSACTION_END, FakeXenstored

DEADLINE = 1.0  # $XENDIX_XENSTORE_TIMEOUT where a test stalls xenstored
MARGIN = 3.0  # a busy machine's delays; below DEFAULT_TIMEOUT - DEADLINE: an ignored setting fails
HANG = 10.0  # a call still waiting this long would wait forever
BE = "/local/domain/0/backend/vbd/1/51728"


@pytest.fixture
def xenstored(tmp_path, monkeypatch):
    nodes = {"/local/domain/0/name": "Domain-0", f"{BE}/state": "4", f"{BE}/params": "/dev/sda"}
    with FakeXenstored(tmp_path / "xs", nodes) as daemon:
        monkeypatch.setenv("XENSTORED_PATH", daemon.path)
        yield daemon


@pytest.fixture
def xs(xenstored, monkeypatch):
    """A store with the default deadline."""
    monkeypatch.delenv(TIMEOUT_ENV, raising=False)
    store = PyxsStore()
    yield store
    store.close()


@pytest.fixture
def impatient(xenstored, monkeypatch):
    """A store whose calls wait DEADLINE seconds at most."""
    monkeypatch.setenv(TIMEOUT_ENV, str(DEADLINE))
    store = PyxsStore()
    yield store
    store.close()


@pytest.fixture
def thread_crashes(monkeypatch) -> list:
    """Exceptions that ended a thread, which Python would print as a traceback."""
    crashes: list = []
    monkeypatch.setattr(threading, "excepthook", crashes.append)
    return crashes


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """What ``fn()`` returned or raised, and the seconds it took.  A call
    still waiting after HANG seconds fails the test: without a deadline it
    would wait forever."""
    outcome: queue.SimpleQueue = queue.SimpleQueue()

    def attempt() -> None:
        try:
            outcome.put(fn())
        except Exception as e:
            outcome.put(e)

    start = time.monotonic()
    threading.Thread(target=attempt, daemon=True).start()
    try:
        result = outcome.get(timeout=HANG)
    except queue.Empty:
        pytest.fail(f"still waiting on xenstored after {HANG:g} s")
    return result, time.monotonic() - start


def stalled(path: str) -> str:
    return f"xenstored did not answer within {DEADLINE:g} s ({path})"


def closed(path: str) -> str:
    return f"xenstored closed the connection ({path})"


# -- a xenstored that answers -------------------------------------------------

def test_read_gives_the_value_and_none_for_a_missing_node(xs):
    assert xs.read(f"{BE}/state") == "4"
    assert xs.read(f"{BE}/nosuch") is None


def test_read_keeps_bytes_a_guest_wrote_that_are_not_utf8(xenstored, xs):
    xenstored.nodes["/local/domain/1/device/vbd/51728/data-integrity-format"] = b"T10\xff"
    value = xs.read("/local/domain/1/device/vbd/51728/data-integrity-format")
    assert value.encode("utf-8", "surrogateescape") == b"T10\xff"


def test_list_gives_the_children_sorted_and_nothing_for_a_missing_directory(xs):
    assert xs.list(BE) == ["params", "state"]
    assert xs.list("/local/domain/7") == []


def test_write_creates_the_node(xenstored, xs):
    xs.write(f"{BE}/data-integrity-enable", "0")
    assert xenstored.nodes[f"{BE}/data-integrity-enable"] == b"0"
    assert xs.read(f"{BE}/data-integrity-enable") == "0"


def test_rm_removes_the_subtree_and_a_missing_node_is_no_error(xenstored, xs):
    xs.rm(BE)
    xs.rm(BE)
    assert [n for n in xenstored.nodes if n.startswith(BE)] == []


def test_a_transaction_lands_its_writes_only_at_commit(xenstored, xs):
    def body(store):
        store.write(f"{BE}/data-integrity-enable", "1")
        store.rm(f"{BE}/params")
        assert f"{BE}/data-integrity-enable" not in xenstored.nodes
        return "done"

    assert transaction(xs, body) == "done"
    assert xenstored.nodes[f"{BE}/data-integrity-enable"] == b"1"
    assert f"{BE}/params" not in xenstored.nodes


def test_a_transaction_runs_again_on_eagain_until_it_commits(xenstored, xs):
    xenstored.eagain = 2
    runs = []

    def body(store):
        runs.append(store.read(f"{BE}/state"))
        store.write(f"{BE}/data-integrity-enable", "0")

    transaction(xs, body)
    assert runs == ["4", "4", "4"]
    assert xenstored.ops(XS_TRANSACTION_END) == [b"T\0"] * 3
    assert xenstored.nodes[f"{BE}/data-integrity-enable"] == b"0"


def test_a_transaction_gives_up_after_max_attempts_with_nothing_written(xenstored, xs):
    xenstored.eagain = MAX_ATTEMPTS
    with pytest.raises(XendixError, match=f"still conflicting after {MAX_ATTEMPTS} attempts"):
        transaction(xs, lambda store: store.write(f"{BE}/data-integrity-enable", "0"))
    assert len(xenstored.ops(XS_TRANSACTION_END)) == MAX_ATTEMPTS
    assert f"{BE}/data-integrity-enable" not in xenstored.nodes


def test_a_failing_body_aborts_the_transaction(xenstored, xs):
    def body(store):
        store.write(f"{BE}/data-integrity-enable", "0")
        raise XendixError("no")

    with pytest.raises(XendixError, match="no"):
        transaction(xs, body)
    assert xenstored.ops(XS_TRANSACTION_END) == [b"F\0"]
    assert f"{BE}/data-integrity-enable" not in xenstored.nodes
    assert xs.read(f"{BE}/state") == "4"  # outside any transaction again


def test_a_watch_fires_once_when_set_then_for_each_change_under_its_path(xenstored, xs):
    watch = xs.watch([BE])
    assert watch.get(HANG) == BE
    xs.write(f"{BE}/state", "5")
    xs.write("/local/domain/0/name", "other")
    assert watch.get(HANG) == f"{BE}/state"
    assert watch.get(0.1) is None
    watch.close()
    xs.write(f"{BE}/state", "6")
    assert watch.get(0.1) is None


def test_a_watch_returns_none_after_its_own_timeout(xs):
    watch = xs.watch(["/local/domain/0/backend"])
    watch.get(HANG)
    nothing, took = timed(lambda: watch.get(0.2))
    assert nothing is None
    assert 0.2 <= took < 0.2 + MARGIN


# -- a xenstored that accepts and never answers ------------------------------

def _begun(store: PyxsStore) -> None:
    store.begin()


CALLS = {  # what is done while xenstored answers, then the call it breaks
    "read": (None, lambda store: store.read(f"{BE}/state")),
    "list": (None, lambda store: store.list(BE)),
    "write": (None, lambda store: store.write(f"{BE}/state", "5")),
    "rm": (None, lambda store: store.rm(f"{BE}/state")),
    "begin": (None, lambda store: store.begin()),
    "commit": (_begun, lambda store: store.commit()),
    "watch": (None, lambda store: store.watch([BE])),
}


@pytest.mark.parametrize("call", CALLS)
def test_a_stalled_xenstored_ends_the_call_at_the_deadline(xenstored, impatient, call):
    prepare, act = CALLS[call]
    if prepare:
        prepare(impatient)
    xenstored.fault = "stall"
    error, took = timed(lambda: act(impatient))
    assert isinstance(error, NoXenstore)
    assert str(error) == stalled(xenstored.path)
    assert DEADLINE <= took < DEADLINE + MARGIN


def test_after_a_stall_every_call_fails_without_asking_again(xenstored, impatient):
    xenstored.fault = "stall"
    first, _ = timed(lambda: impatient.read(f"{BE}/state"))
    assert isinstance(first, NoXenstore)
    asked = len(xenstored.requests)
    error, _ = timed(lambda: impatient.list(BE))
    assert str(error) == stalled(xenstored.path)
    assert len(xenstored.requests) == asked


def test_abort_on_a_stalled_xenstored_returns_quietly_at_the_deadline(xenstored, impatient):
    impatient.begin()
    xenstored.fault = "stall"
    nothing, took = timed(impatient.abort)
    assert nothing is None
    assert DEADLINE <= took < DEADLINE + MARGIN
    assert impatient.client.tx_id == 0


def test_connect_to_a_xenstored_that_never_accepts_ends_at_the_deadline(tmp_path, monkeypatch):
    monkeypatch.setenv(TIMEOUT_ENV, str(DEADLINE))
    path = str(tmp_path / "full")
    listener, queued = socket.socket(socket.AF_UNIX), socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(0)
    queued.connect(path)  # fills the backlog: the next connect() waits
    try:
        error, took = timed(lambda: PyxsStore(path))
    finally:
        queued.close()
        listener.close()
    assert str(error) == stalled(path)
    assert DEADLINE <= took < DEADLINE + MARGIN


# -- a xenstored that closes the connection ----------------------------------

@pytest.mark.parametrize("call", CALLS)
def test_a_dropped_connection_ends_the_call_before_the_deadline(xenstored, xs, call, thread_crashes):
    prepare, act = CALLS[call]
    if prepare:
        prepare(xs)
    xenstored.fault = "drop"
    error, took = timed(lambda: act(xs))
    assert isinstance(error, NoXenstore)
    assert str(error) == closed(xenstored.path)
    assert took < DEFAULT_TIMEOUT
    assert thread_crashes == []  # pyxs's router thread ended quietly


def test_a_watch_wait_ends_when_xenstored_hangs_up(xenstored, xs, thread_crashes):
    watch = xs.watch([BE])
    watch.get(HANG)
    xenstored.hang_up()
    error, took = timed(lambda: watch.get(HANG))
    assert str(error) == closed(xenstored.path)
    assert took < DEFAULT_TIMEOUT
    watch.close()  # quiet: the watches went with the connection
    assert thread_crashes == []


def test_a_send_on_a_closed_socket_is_no_xenstore():
    """pyxs raises ConnectionError when it writes to a socket xenstored has
    closed before the router thread has seen the end of it."""
    import pyxs

    class BrokenPipe:
        def read(self, path: bytes) -> bytes:
            raise pyxs.ConnectionError("error while writing to 'xs': (32, 'Broken pipe')")

    store = PyxsStore.__new__(PyxsStore)
    store._pyxs, store.path, store.client = pyxs, "xs", BrokenPipe()
    with pytest.raises(NoXenstore, match=r"^xenstored closed the connection \(xs\)$"):
        store.read(f"{BE}/state")


def test_a_path_xenstore_cannot_hold_is_a_one_line_error(xs):
    with pytest.raises(XendixError, match="^xenstore: ") as caught:
        xs.read(f"{BE}/no spaces")
    assert type(caught.value) is XendixError


def test_a_missing_socket_is_no_xenstore(tmp_path):
    with pytest.raises(NoXenstore, match="does not exist"):
        PyxsStore(str(tmp_path / "missing"))


# -- the deadline's setting ---------------------------------------------------

@pytest.mark.parametrize("value, seconds", [(None, DEFAULT_TIMEOUT), ("", DEFAULT_TIMEOUT),
                                            ("0.25", 0.25), ("30", 30.0)])
def test_the_deadline_is_5_s_unless_the_environment_says(monkeypatch, value, seconds):
    if value is None:
        monkeypatch.delenv(TIMEOUT_ENV, raising=False)
    else:
        monkeypatch.setenv(TIMEOUT_ENV, value)
    assert call_timeout() == seconds


@pytest.mark.parametrize("value", ["0", "-1", "soon", "nan", "inf", "3601"])
def test_a_deadline_that_is_not_a_number_of_seconds_is_a_usage_error(monkeypatch, value):
    monkeypatch.setenv(TIMEOUT_ENV, value)
    with pytest.raises(Usage, match=f"{TIMEOUT_ENV} must be a number of seconds"):
        PyxsStore()


# -- the command line ---------------------------------------------------------

def test_status_against_a_stalled_xenstored_exits_4_with_one_line(xenstored, host, monkeypatch):
    monkeypatch.setenv(TIMEOUT_ENV, str(DEADLINE))
    host.connect = PyxsStore
    xenstored.fault = "stall"
    result, took = timed(lambda: CliRunner().invoke(main, ["status"], obj=host))
    assert (result.exit_code, result.stderr) == (errors.NO_XENSTORE, f"xendix: {stalled(xenstored.path)}\n")
    assert result.stdout == ""
    assert DEADLINE <= took < DEADLINE + MARGIN


def test_a_bad_deadline_setting_is_a_usage_error_on_the_command_line(host, monkeypatch):
    monkeypatch.setenv(TIMEOUT_ENV, "soon")
    host.connect = PyxsStore
    result = CliRunner().invoke(main, ["status"], obj=host)
    assert result.exit_code == errors.USAGE
    assert result.stderr.startswith(f"xendix: {TIMEOUT_ENV} must be") and result.stderr.count("\n") == 1
