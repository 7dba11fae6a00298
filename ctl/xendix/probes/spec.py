"""The tracepoints the tools read, as issue 8's interface spec defines them.

A tool reads tracepoint fields by name; this is the one list of what each
event has.  ``xendix`` checks the running kernel's format files against it
before compiling anything (:func:`xendix.probes.bpf.check_tracepoints`).
"""

from __future__ import annotations

BACKEND, FRONTEND = "xen_blkback", "xen_blkfront"

# every request event, in this order: domid, handle, dev, id, sector, ...
COMMON = ("domid", "handle", "dev", "id", "sector", "nr_sectors", "write", "dix", "status", "kind")
_ENDS = ("domid", "handle", "dev")


def _events(system: str, rejected: str) -> dict[str, tuple[str, ...]]:
    return {
        f"{system}_rq_submit": COMMON,
        f"{system}_rq_complete": COMMON,
        f"{system}_dix_error": COMMON,
        f"{system}_dix_unprotected": COMMON,
        f"{system}_{rejected}": (_ENDS + ("id", "reason") if system == BACKEND
                                 else COMMON + ("reason",)),
        f"{system}_dix_connect": _ENDS + (("format", "interval", "tuple_size", "confirmed")
                                          if system == BACKEND else ("format",)),
    }


EVENTS: dict[str, dict[str, tuple[str, ...]]] = {
    BACKEND: _events(BACKEND, "dix_rejected"),
    FRONTEND: _events(FRONTEND, "dix_refused"),
}

# the event a pair that breaks a rule fires: blkback rejects it, blkfront refuses to send it
REJECTED = {BACKEND: "dix_rejected", FRONTEND: "dix_refused"}

# the spec's failure kinds; `verify` is the tools' own (--guest)
KINDS = {0: "none", 1: "unknown", 2: "guard", 3: "app", 4: "ref", 5: "verify"}
VERIFY = 5
ERROR_KINDS = ("guard", "app", "ref", "unknown")  # what blkback tells apart

# BLKIF_RSP_* (docs/protocol.md)
STATUSES = {0: "OKAY", -1: "ERROR", -2: "EOPNOTSUPP", -3: "EINTEGRITY"}


def kind_name(kind: int) -> str:
    return KINDS.get(kind, f"kind{kind}")


def status_name(status: int) -> str:
    return STATUSES.get(status, str(status))


def system(guest: bool) -> str:
    """The tracepoint system a tool reads: blkfront's in a guest, blkback's in dom0."""
    return FRONTEND if guest else BACKEND
