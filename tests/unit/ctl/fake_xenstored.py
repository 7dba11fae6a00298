"""A xenstored for the unit tests: the real wire protocol on a Unix socket.

Each message is a 16-byte header (type, request id, transaction id,
payload length: little-endian uint32) and a payload of NUL-terminated
fields.  The daemon keeps a tree of nodes (path -> bytes), answers
read, write, directory and rm, runs transactions (``eagain`` makes that
many commits fail with EAGAIN first), and fires watches as xenstored
does: once when the watch is set, then on every change at or under its
path.  ``fault`` breaks it on purpose: ``"stall"`` reads every request and
never answers, ``"drop"`` closes the connection after reading a request.
"""

from __future__ import annotations

import socket
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path

HEADER = struct.Struct("<IIII")
XS_DIRECTORY = 1
XS_READ = 2
XS_WATCH = 4
XS_UNWATCH = 5
XS_TRANSACTION_START = 6
XS_TRANSACTION_END = 7
XS_WRITE = 11
XS_RM = 13
XS_WATCH_EVENT = 15
XS_ERROR = 16
NUL = b"\0"
OK = b"OK\0"


class XsError(Exception):
    """A request xenstored answers with XS_ERROR and this errno name."""


@dataclass
class Transaction:
    """A transaction's own copy of the tree and the changes to land at commit."""

    view: dict[str, bytes]
    changes: list[tuple[str, bytes | None]] = field(default_factory=list)


@dataclass
class Connection:
    """One client connection; ``lock`` keeps answers and events whole."""

    sock: socket.socket
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, op: int, rq_id: int, tx_id: int, payload: bytes) -> None:
        with self.lock:
            self.sock.sendall(HEADER.pack(op, rq_id, tx_id, len(payload)) + payload)

    def recv_exact(self, size: int) -> bytes | None:
        """``size`` bytes, or None once the peer has closed the connection."""
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def set_node(tree: dict[str, bytes], path: str, value: bytes) -> None:
    """Write a node, creating its missing parents empty, as xenstored does."""
    parts = path.strip("/").split("/")
    for i in range(1, len(parts)):
        tree.setdefault("/" + "/".join(parts[:i]), b"")
    tree[path] = value


def remove_node(tree: dict[str, bytes], path: str) -> None:
    """Remove a node and everything under it."""
    if path not in tree:
        raise XsError("ENOENT")
    for name in [n for n in tree if n == path or n.startswith(path + "/")]:
        del tree[name]


def children(tree: dict[str, bytes], path: str) -> list[str]:
    """The names directly under ``path``."""
    if path not in tree:
        raise XsError("ENOENT")
    prefix = path.rstrip("/") + "/"
    return list(dict.fromkeys(n[len(prefix):].split("/")[0] for n in tree if n.startswith(prefix)))


class FakeXenstored:
    """A threaded xenstored on ``path``; use it as a context manager."""

    def __init__(self, path: Path, nodes: dict[str, str | bytes] | None = None) -> None:
        self.path = str(path)
        self.nodes: dict[str, bytes] = {}
        for name, value in (nodes or {}).items():
            set_node(self.nodes, name, value if isinstance(value, bytes) else value.encode())
        self.fault: str | None = None  # None, "stall" or "drop"
        self.eagain = 0  # commits still to answer with EAGAIN
        self.requests: list[tuple[int, bytes]] = []  # (type, payload) of every request read
        self._lock = threading.Lock()
        self._transactions: dict[int, Transaction] = {}
        self._next_tx = 1
        self._watches: list[tuple[Connection, str, bytes]] = []
        self._connections: list[Connection] = []
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.path)
        self._listener.listen(8)
        self._listener.settimeout(0.05)  # so that stop() is seen promptly

    def __enter__(self) -> "FakeXenstored":
        self._spawn(self._accept)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self.hang_up()
        for t in self._threads:
            t.join(timeout=2)
        self._listener.close()

    def hang_up(self) -> None:
        """Close every client connection now, as a dying xenstored would."""
        for conn in list(self._connections):
            conn.close()

    def ops(self, op: int) -> list[bytes]:
        """The payloads of the requests of type ``op`` read so far."""
        return [payload for kind, payload in self.requests if kind == op]

    # -- serving ----------------------------------------------------------
    def _spawn(self, target, *args: object) -> None:
        t = threading.Thread(target=target, args=args, daemon=True, name="fake-xenstored")
        self._threads.append(t)
        t.start()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn = Connection(sock)
            self._connections.append(conn)
            self._spawn(self._serve, conn)

    def _serve(self, conn: Connection) -> None:
        try:
            while (header := conn.recv_exact(HEADER.size)) is not None:
                op, rq_id, tx_id, size = HEADER.unpack(header)
                payload = conn.recv_exact(size) if size else b""
                if payload is None:
                    return
                self.requests.append((op, payload))
                if self.fault == "drop":
                    conn.close()
                    return
                if self.fault != "stall":
                    self._answer(conn, op, rq_id, tx_id, payload)
        except OSError:  # the client went away, or stop() closed the socket
            pass

    def _answer(self, conn: Connection, op: int, rq_id: int, tx_id: int, payload: bytes) -> None:
        fields = payload.split(NUL)
        try:
            with self._lock:
                reply, fired = self._handle(conn, op, tx_id, fields)
        except XsError as e:
            conn.send(XS_ERROR, rq_id, tx_id, str(e).encode() + NUL)
            return
        conn.send(op, rq_id, tx_id, reply)
        for target, path, token in fired:
            self._event(target, path, token)

    def _handle(self, conn: Connection, op: int, tx_id: int,
                fields: list[bytes]) -> tuple[bytes, list[tuple[Connection, str, bytes]]]:
        """The answer to one request and the watch events it fires."""
        path = fields[0].decode()
        tx = self._transactions.get(tx_id) if tx_id else None
        if tx_id and tx is None:
            raise XsError("ENOENT")
        tree = tx.view if tx else self.nodes
        if op == XS_READ:
            if path not in tree:
                raise XsError("ENOENT")
            return tree[path], []
        if op == XS_DIRECTORY:
            return b"".join(name.encode() + NUL for name in children(tree, path)), []
        if op in (XS_WRITE, XS_RM):
            value = NUL.join(fields[1:]) if op == XS_WRITE else None
            return OK, self._change(tree, tx, path, value)
        if op == XS_TRANSACTION_START:
            tx_id, self._next_tx = self._next_tx, self._next_tx + 1
            self._transactions[tx_id] = Transaction(dict(self.nodes))
            return str(tx_id).encode() + NUL, []
        if op == XS_TRANSACTION_END:
            if tx is None:
                raise XsError("EINVAL")
            return OK, self._end(tx_id, tx, path == "T")
        if op == XS_WATCH:
            token = fields[1]
            self._watches.append((conn, path, token))
            return OK, [(conn, path, token)]  # xenstored fires every new watch once
        if op == XS_UNWATCH:
            self._watches = [w for w in self._watches if w[0] is not conn or w[1:] != (path, fields[1])]
            return OK, []
        raise XsError("EINVAL")

    def _change(self, tree: dict[str, bytes], tx: Transaction | None, path: str,
                value: bytes | None) -> list[tuple[Connection, str, bytes]]:
        """Write (``value``) or remove (None) a node; the watches it fires now."""
        if value is None:
            remove_node(tree, path)
        else:
            set_node(tree, path, value)
        if tx is not None:
            tx.changes.append((path, value))
            return []
        return self._fired(path)

    def _end(self, tx_id: int, tx: Transaction, commit: bool) -> list[tuple[Connection, str, bytes]]:
        """End a transaction: land its changes on commit, unless EAGAIN is due."""
        del self._transactions[tx_id]
        if not commit:
            return []
        if self.eagain:
            self.eagain -= 1
            raise XsError("EAGAIN")
        fired = []
        for path, value in tx.changes:
            fired += self._change(self.nodes, None, path, value)
        return fired

    def _fired(self, path: str) -> list[tuple[Connection, str, bytes]]:
        return [(conn, path, token) for conn, watched, token in self._watches
                if path == watched or path.startswith(watched + "/")]

    def _event(self, conn: Connection, path: str, token: bytes) -> None:
        try:
            conn.send(XS_WATCH_EVENT, 0, 0, path.encode() + NUL + token + NUL)
        except OSError:  # that client is gone
            pass
