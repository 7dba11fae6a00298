"""Domain names and ids, from xenstore's /local/domain/<domid>/name."""

from __future__ import annotations

from .errors import UnknownDomain
from .xenstore import Store


def domains(store: Store) -> dict[int, str]:
    """domid -> name of every domain xenstore knows."""
    out: dict[int, str] = {}
    for d in store.list("/local/domain"):
        if d.isdigit():
            out[int(d)] = store.read(f"/local/domain/{d}/name") or f"domain-{d}"
    return out


def name_of(store: Store, domid: int) -> str:
    """A domain's name; ``domain-<id>`` when it has none (yet)."""
    return store.read(f"/local/domain/{domid}/name") or f"domain-{domid}"


def resolve(store: Store, spec: str) -> int:
    """A domain name or numeric id -> domid; UnknownDomain if none matches."""
    known = domains(store)
    if spec.isdigit() and int(spec) in known:
        return int(spec)
    matches = [domid for domid, name in known.items() if name == spec]
    if not matches:
        raise UnknownDomain(f"unknown domain {spec!r}")
    return matches[0]
