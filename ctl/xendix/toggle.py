"""The admin toggle data-integrity-enable, written in one transaction."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import UnknownVdev
from .vbd import ADMIN_NODE
from .xenstore import BACKEND_VBD, Store, transaction


@dataclass(frozen=True)
class Change:
    """One toggle write: before and after (None: the node was absent)."""

    domid: int
    devid: int
    before: str | None
    after: str


def write_toggles(store: Store, wanted: dict[tuple[int, int], bool]) -> list[Change]:
    """Set ``data-integrity-enable`` of every (domid, devid) in ``wanted``, all
    in one transaction (retried on EAGAIN).  A vbd whose backend has gone
    aborts the whole transaction: nothing is written."""

    def body(tx: Store) -> list[Change]:
        changes = []
        for (domid, devid), enable in sorted(wanted.items()):
            be = f"{BACKEND_VBD}/{domid}/{devid}"
            if tx.read(f"{be}/frontend") is None:
                raise UnknownVdev(f"vbd {domid}/{devid} has no backend (any more)")
            before = tx.read(f"{be}/{ADMIN_NODE}")
            after = "1" if enable else "0"
            if before != after:
                tx.write(f"{be}/{ADMIN_NODE}", after)
            changes.append(Change(domid, devid, before, after))
        return changes

    return transaction(store, body)
