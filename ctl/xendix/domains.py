"""Domain names and ids, from xenstore's /local/domain/<domid>/name."""

from __future__ import annotations

from .digits import decimal, looks_numeric
from .errors import UnknownDomain, Usage
from .xenstore import Store


def domains(store: Store) -> dict[int, str]:
    """domid -> name of every domain xenstore knows."""
    out: dict[int, str] = {}
    for d in store.list("/local/domain"):
        domid = decimal(d)
        if domid is not None:
            out[domid] = store.read(f"/local/domain/{d}/name") or f"domain-{d}"
    return out


def name_of(store: Store, domid: int) -> str:
    """A domain's name; ``domain-<id>`` when it has none (yet)."""
    return store.read(f"/local/domain/{domid}/name") or f"domain-{domid}"


def domid_of(spec: str) -> int | None:
    """A DOMAIN argument's domid when it is one (ASCII digits), None for a
    name; Usage for an empty name or digits of another script (``４``)."""
    if not spec:
        raise Usage("empty domain name")
    domid = decimal(spec)
    if domid is None and looks_numeric(spec):
        raise Usage(f"domain id {spec!r} is not in ASCII digits")
    return domid


def resolve(store: Store, spec: str) -> int:
    """A domain name or id -> domid.  UnknownDomain if none matches; a name
    that several domains have is refused (Usage), naming their domids."""
    domid = domid_of(spec)
    known = domains(store)
    if domid in known:
        return domid
    matches = sorted(d for d, name in known.items() if name == spec)
    if not matches:
        raise UnknownDomain(f"unknown domain {spec!r}")
    if len(matches) > 1:
        raise Usage(f"domain name {spec!r} is ambiguous: domids {', '.join(map(str, matches))}")
    return matches[0]
