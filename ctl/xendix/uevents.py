"""The kernel's own uevents of vbd backends, read through pyroute2.

One job: open the kernel's uevent netlink socket (pyroute2's
``UeventSocket``), parse each datagram into a dict of raw values, keep
the xen-backend ``vbd-D-N`` ones, and wait for them with a deadline.

``xendix monitor`` reads it in a dom0 without udevd: there libudev's
monitor hears nothing (it listens to udevd's re-broadcast, and libudev
does not even subscribe when ``/run/udev/control`` is missing).

pyroute2 only opens and binds the socket.  Its own parser decodes every
line as UTF-8 and raises on anything else (0.7 and 0.9 alike), and a
uevent's values are bytes the kernel copied from wherever they came from,
so the datagrams are read raw from the socket and parsed here, strictly:
values stay bytes; only the monitor decides what they mean, and escapes
them (:mod:`untrusted`) to show them.  The API used is what both Debian
12's python3-pyroute2 (0.7.2) and PyPI's (0.9) have: ``UeventSocket()``,
``bind()`` with no argument (every multicast group: the kernel's, and
udevd's re-broadcast, which is told apart by its ``libudev`` prefix and
dropped), ``fileno()``, ``recv()`` and ``close()``.
"""

from __future__ import annotations

import errno
import re
import select
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from .errors import XendixError

RECV_SIZE = 16384  # the kernel's uevent buffer is 2048 bytes (UEVENT_BUFFER_SIZE)
SUBSYSTEM = b"xen-backend"
DOMID_MAX = 0x7FEF  # DOMID_FIRST_RESERVED - 1: the last domid a domain can have
DEVID_MAX = 0xFFFFFFFF
_KEY = re.compile(rb"[A-Za-z0-9_]{1,64}")  # SYNTH_ARG_<key> may have lower case
_ACTION = re.compile(rb"[a-z]{1,16}")
_VBD = re.compile(r"vbd-(0|[1-9][0-9]{0,4})-(0|[1-9][0-9]{0,9})", re.ASCII)


def vbd_ids(name: str) -> tuple[int, int] | None:
    """``vbd-1-51728`` -> (1, 51728); None for any other name (``vif-1-0``,
    ``vbd-01-5``, ``vbd-1-5\\n``, non-ASCII digits, a domid past DOMID_MAX)."""
    m = _VBD.fullmatch(name)
    if m is None:
        return None
    domid, devid = int(m[1]), int(m[2])
    return (domid, devid) if domid <= DOMID_MAX and devid <= DEVID_MAX else None


def parse(data: bytes) -> dict[str, bytes] | None:
    """One kernel uevent (``ACTION@DEVPATH\\0KEY=value\\0...``) as {KEY: value},
    values as they came (bytes).  None for what the kernel does not send:
    udevd's re-broadcast (``libudev\\0`` and a binary header), no ``@``
    header, a key that is not ``[A-Za-z0-9_]``, a key given twice, or a
    header that disagrees with ACTION and DEVPATH."""
    if not data or data.startswith(b"libudev\0"):
        return None
    header, *fields = data.rstrip(b"\0").split(b"\0")
    action, at, devpath = header.partition(b"@")
    if not at or not _ACTION.fullmatch(action) or not devpath.startswith(b"/"):
        return None
    env: dict[str, bytes] = {}
    for f in fields:
        key, eq, value = f.partition(b"=")
        if not eq or not _KEY.fullmatch(key) or key.decode() in env:
            return None
        env[key.decode()] = value
    if env.get("ACTION") != action or env.get("DEVPATH") != devpath:
        return None
    return env


@dataclass(frozen=True)
class VbdUevent:
    """A uevent of a vbd backend: its action, its device name and ids, and
    the uevent's variables (raw bytes; the monitor reads the XENDIX_ ones)."""

    action: str
    name: str
    domid: int
    devid: int
    env: Mapping[str, bytes] = field(default_factory=dict)


def vbd_uevent(env: Mapping[str, bytes]) -> VbdUevent | None:
    """The uevent when it is a xen-backend ``vbd-D-N`` device's, else None."""
    if env.get("SUBSYSTEM") != SUBSYSTEM:
        return None
    name = env.get("DEVPATH", b"").rpartition(b"/")[2]
    action = env.get("ACTION", b"")
    if not name.isascii() or not _ACTION.fullmatch(action):
        return None
    ids = vbd_ids(name.decode())
    if ids is None:
        return None
    return VbdUevent(action.decode(), name.decode(), *ids, env=dict(env))


def open_socket() -> Any:
    """pyroute2's UeventSocket, bound to every group; XendixError if it cannot be."""
    try:
        from pyroute2.netlink.uevent import UeventSocket
    except ImportError as e:
        raise XendixError(f"kernel uevents need pyroute2 ({e}): pip install pyroute2, "
                          "or apt install python3-pyroute2") from None
    try:
        sock = UeventSocket()
    except OSError as e:
        raise XendixError(f"cannot open the kernel's uevent socket: {e.strerror or e}") from None
    try:
        sock.bind()  # 0.7: no argument; 0.9: groups=-1 by default.  Every group.
    except Exception as e:  # noqa: BLE001 - pyroute2 0.7 raises KeyError when no port is free
        sock.close()
        raise XendixError(f"cannot bind the kernel's uevent socket: "
                          f"{getattr(e, 'strerror', None) or e}") from None
    return sock


class KernelUevents:
    """The vbd uevents of a uevent socket (pyroute2's, or a test's: anything
    with ``fileno``, ``recv`` and ``close``), each wait bounded."""

    def __init__(self, sock: Any, clock: Callable[[], float] = time.monotonic) -> None:
        self.sock, self.clock = sock, clock
        self.fd = sock.fileno()

    def get(self, timeout: float) -> VbdUevent | None:
        """The next vbd uevent, or None when ``timeout`` seconds pass first.
        Other uevents are read and dropped on the way.  A socket that
        overran (the kernel dropped uevents: ENOBUFS) raises XendixError:
        the monitor does not go on as if nothing was lost."""
        end = self.clock() + max(timeout, 0.0)
        while True:
            left = end - self.clock()
            if left < 0 or not select.select([self.fd], [], [], left)[0]:
                return None
            try:
                data = self.sock.recv(RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as e:
                if e.errno == errno.ENOBUFS:
                    raise XendixError("the kernel's uevent socket overran: uevents were lost "
                                      "(ENOBUFS)") from None
                raise XendixError(f"cannot read the kernel's uevent socket: "
                                  f"{e.strerror or e}") from None
            env = parse(bytes(data))
            found = vbd_uevent(env) if env is not None else None
            if found is not None:
                return found

    def close(self) -> None:
        self.sock.close()
