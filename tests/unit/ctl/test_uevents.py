"""The kernel's uevent socket through pyroute2: a datagram is parsed into
raw values, only xen-backend vbd-D-N uevents are kept, every wait ends
at its deadline, and what the kernel never sends is dropped, not a crash."""

from __future__ import annotations

import errno
import select
import socket
import sys
import time

import pytest

from xendix import uevents
from xendix.errors import XendixError

XVDB = 51728


def kernel_uevent(action: bytes = b"change", name: bytes = b"vbd-1-51728",
                  subsystem: bytes = b"xen-backend", seqnum: int = 4242,
                  **xendix: bytes) -> bytes:
    """A datagram as lib/kobject_uevent.c sends it: ``action@devpath``, then
    each KEY=value, every one NUL-terminated; the XENDIX_ ones are blkback's."""
    devpath = b"/devices/" + name
    env = [b"ACTION=" + action, b"DEVPATH=" + devpath, b"SUBSYSTEM=" + subsystem]
    if subsystem == b"xen-backend":  # what the xen-backend bus adds
        env += [b"XENBUS_TYPE=vbd", b"XENBUS_PATH=backend/vbd/1/51728",
                b"XENBUS_BASE_PATH=backend"]
    env += [f"{k}=".encode() + v for k, v in xendix.items()]
    env.append(f"SEQNUM={seqnum}".encode())
    return action + b"@" + devpath + b"\0" + b"\0".join(env) + b"\0"


def integrity_error(count: bytes = b"1", kind: bytes = b"guard", **more: bytes) -> bytes:
    return kernel_uevent(XENDIX_EVENT=b"integrity-error", XENDIX_DOMID=b"1",
                         XENDIX_DEVID=str(XVDB).encode(), XENDIX_COUNT=count, XENDIX_KIND=kind,
                         **more)


class FakeUeventSocket:
    """A uevent socket as UeventSocket looks to xendix (fileno, recv, close),
    over a datagram socketpair: what ``send`` writes is one datagram, and
    select waits on it as on netlink."""

    def __init__(self) -> None:
        self.ours, self.kernel = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.closed = False
        self.fail: OSError | None = None

    def send(self, *datagrams: bytes) -> None:
        for d in datagrams:
            self.kernel.send(d)

    def fileno(self) -> int:
        return self.ours.fileno()

    def recv(self, size: int) -> bytes:
        if self.fail is not None:
            self.ours.recv(size)
            raise self.fail
        return self.ours.recv(size)

    def close(self) -> None:
        self.closed = True
        self.ours.close()
        self.kernel.close()


@pytest.fixture
def fake_socket():
    s = FakeUeventSocket()
    yield s
    if not s.closed:
        s.close()


# -- parsing a datagram --------------------------------------------------------

def test_a_kernel_uevent_is_parsed_into_its_variables_as_bytes():
    env = uevents.parse(integrity_error(count=b"3", kind=b"app"))
    assert env == {"ACTION": b"change", "DEVPATH": b"/devices/vbd-1-51728",
                   "SUBSYSTEM": b"xen-backend", "XENBUS_TYPE": b"vbd",
                   "XENBUS_PATH": b"backend/vbd/1/51728", "XENBUS_BASE_PATH": b"backend",
                   "XENDIX_EVENT": b"integrity-error", "XENDIX_DOMID": b"1",
                   "XENDIX_DEVID": b"51728", "XENDIX_COUNT": b"3", "XENDIX_KIND": b"app",
                   "SEQNUM": b"4242"}


def test_values_are_kept_as_the_bytes_they_are_not_decoded():
    env = uevents.parse(kernel_uevent(XENDIX_FORMAT=b"T10\xff\x1b[31m=x"))
    assert env["XENDIX_FORMAT"] == b"T10\xff\x1b[31m=x"  # only the first = splits


NOT_FROM_THE_KERNEL = {
    "empty": b"",
    "udevd's re-broadcast": b"libudev\0\xfe\xed\xca\xfe" + b"\0" * 32 + b"ACTION=change\0",
    "no @ header": b"change /devices/vbd-1-5\0ACTION=change\0DEVPATH=/devices/vbd-1-5\0",
    "a header that is not ACTION": kernel_uevent().replace(b"change@", b"remove@", 1),
    "a DEVPATH that is not the header's": kernel_uevent().replace(b"DEVPATH=/devices/vbd-1-51728",
                                                                 b"DEVPATH=/devices/vbd-2-51728"),
    "a key twice": kernel_uevent(XENDIX_COUNT=b"1") + b"XENDIX_COUNT=99\0",
    "a key that is not a name": kernel_uevent() + b"X\xffY=1\0",
    "a line without =": kernel_uevent() + b"garbage\0",
    "an upper-case action": kernel_uevent(action=b"CHANGE"),
}


@pytest.mark.parametrize("data", NOT_FROM_THE_KERNEL.values(), ids=NOT_FROM_THE_KERNEL)
def test_what_the_kernel_does_not_send_is_dropped(data):
    assert uevents.parse(data) is None


# -- which uevents are a vbd's ---------------------------------------------------

@pytest.mark.parametrize("name, ids", [
    ("vbd-1-51728", (1, XVDB)), ("vbd-0-768", (0, 768)), ("vbd-32751-4294967295", (32751, 2**32 - 1)),
    ("vbd-32752-1", None), ("vbd-1-4294967296", None),  # a reserved domid, a devid past 32 bits
    ("vbd-01-5", None), ("vbd-1-5\n", None), ("vbd-1-5x", None), ("vbd-1", None),
    ("vbd-١-5", None), ("vbd-1-５", None), ("vif-1-0", None), ("", None),
])
def test_a_vbd_is_named_vbd_domid_devid_in_ascii_digits(name, ids):
    assert uevents.vbd_ids(name) == ids


def test_only_xen_backend_vbd_uevents_are_kept():
    u = uevents.vbd_uevent(uevents.parse(integrity_error()))
    assert (u.action, u.name, u.domid, u.devid) == ("change", "vbd-1-51728", 1, XVDB)
    assert u.env["XENDIX_KIND"] == b"guard"
    for other in (kernel_uevent(name=b"vif-1-0"), kernel_uevent(subsystem=b"block", name=b"sda"),
                  kernel_uevent(subsystem=b"xen", name=b"vbd-1-51728"),
                  kernel_uevent(name=b"vbd-1-\xff"), kernel_uevent(name=b"vbd-99999-1")):
        assert uevents.vbd_uevent(uevents.parse(other)) is None


# -- the socket: bounded waits ------------------------------------------------------

def test_get_returns_the_next_vbd_uevent_and_drops_the_others_on_the_way(fake_socket):
    source = uevents.KernelUevents(fake_socket)
    fake_socket.send(kernel_uevent(subsystem=b"block", name=b"sda"), b"libudev\0junk",
                     b"\xff\xfe garbage", kernel_uevent(name=b"vif-1-0"),
                     integrity_error(count=b"2"), kernel_uevent(action=b"remove"))
    first = source.get(1.0)
    assert (first.action, first.env["XENDIX_COUNT"]) == ("change", b"2")
    assert source.get(1.0).action == "remove"
    source.close()
    assert fake_socket.closed


def test_get_waits_no_longer_than_its_timeout_even_while_other_uevents_come(fake_socket):
    source = uevents.KernelUevents(fake_socket)
    start = time.monotonic()
    assert source.get(0.2) is None
    assert 0.15 < time.monotonic() - start < 1.0
    for _ in range(50):
        fake_socket.send(kernel_uevent(name=b"vif-1-0"))
    start = time.monotonic()
    assert source.get(0.2) is None
    assert time.monotonic() - start < 1.0


def test_an_overrun_socket_is_one_error_that_says_uevents_were_lost(fake_socket):
    fake_socket.fail = OSError(errno.ENOBUFS, "No buffer space available")
    fake_socket.send(integrity_error())
    with pytest.raises(XendixError, match=r"overran: uevents were lost \(ENOBUFS\)"):
        uevents.KernelUevents(fake_socket).get(1.0)


# -- pyroute2 ------------------------------------------------------------------------

def test_the_installed_pyroute2_opens_a_uevent_socket_to_select_on():
    pytest.importorskip("pyroute2")
    try:
        sock = uevents.open_socket()
    except XendixError as e:
        pytest.skip(f"no netlink uevent socket here: {e}")
    try:
        source = uevents.KernelUevents(sock)
        assert isinstance(source.fd, int) and source.fd >= 0
        select.select([source.fd], [], [], 0)
        source.get(0.05)  # whatever the machine does meanwhile: no error, bounded
    finally:
        sock.close()


def test_without_pyroute2_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyroute2.netlink.uevent", None)
    with pytest.raises(XendixError, match="kernel uevents need pyroute2 .*python3-pyroute2"):
        uevents.open_socket()
