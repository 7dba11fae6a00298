"""Loading a tool's BPF program with bcc, after checking what it needs.

The checks run in this order, each failing with one line that says what
is missing and how to get it: root, dom0 and xenstored as for every
command (in a guest, root only; the command line was parsed before),
then bcc itself (Debian's python3-bpfcc, imported only here: it must match
the kernel, so it is no pip package), the running kernel's headers, and
the drivers' tracepoints with every field the tool reads (a module without
issue 8's tracepoints, or an older patched one, is named as such instead
of failing in bcc's compiler).  ``--guest`` also chooses the kernel
function whose return says that the guest's own PI verify failed a read,
by which symbol /proc/kallsyms lists (:data:`VERIFY_PROBES`).
"""

from __future__ import annotations

import importlib.resources
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from ..errors import NotRoot, XendixError
from ..host import Host
from . import spec

MODULES = Path("/lib/modules")  # where the kernel's headers are (…/<release>/build)
TRACEFS = ("kernel/tracing", "kernel/debug/tracing")  # under sysfs, in bcc's order of preference
INSTALL = "apt install python3-bpfcc linux-headers-$(uname -r)"
_DISK = re.compile(r"[A-Za-z0-9_.-]{1,31}")


class ProbeError(XendixError):
    """Something a tool needs is missing (bcc, headers, tracepoints...): exit 1."""


@dataclass(frozen=True)
class VerifyProbe:
    """Where a guest's failed PI verify shows: a BPF source and the kernel
    functions to attach its ``verify_entry``/``verify_return`` to."""

    source: str
    symbols: tuple[str, ...]
    kernel: str  # which kernels have it, for the header line

    def present(self, kallsyms: set[str]) -> tuple[str, ...]:
        return tuple(s for s in self.symbols if s in kallsyms)


# In order of preference.  6.12: blk_integrity_verify(struct bio *) sets
# bio->bi_status; 6.1: the T10 profiles' verify_fn return BLK_STS_PROTECTION.
VERIFY_PROBES = (
    VerifyProbe("verify_bio.bpf.c", ("blk_integrity_verify",), "6.12"),
    VerifyProbe("verify_iter.bpf.c", ("t10_pi_type1_verify_crc", "t10_pi_type1_verify_ip",
                                      "t10_pi_type3_verify_crc", "t10_pi_type3_verify_ip"), "6.1"),
)


@dataclass(frozen=True)
class System:
    """The paths the checks read; from the Host, so tests use a temporary tree."""

    sysfs: Path
    proc: Path
    modules: Path

    @classmethod
    def of(cls, host: Host) -> "System":
        return cls(Path(host.sysfs), Path(host.proc), MODULES)

    def release(self) -> str:
        try:
            return (self.proc / "sys" / "kernel" / "osrelease").read_text().strip()
        except OSError:
            return os.uname().release

    def tracefs(self) -> Path | None:
        """The mounted tracefs (with an ``events`` directory), or None."""
        for sub in TRACEFS:
            if (self.sysfs / sub / "events").is_dir():
                return self.sysfs / sub
        return None

    def kallsyms(self) -> set[str]:
        """The names of the kernel's (and loaded modules') functions."""
        names: set[str] = set()
        try:
            with open(self.proc / "kallsyms", encoding="ascii", errors="replace") as f:
                for line in f:
                    parts = line.split()
                    if len(parts) >= 3 and parts[1] in "tTwW":
                        names.add(parts[2])
        except OSError:
            pass
        return names


def preflight(host: Host, guest: bool) -> None:
    """What every xendix command checks first: in dom0 root, dom0 and
    xenstored (names come from xenstore); in a guest (``--guest``) root only."""
    if not guest:
        host.store()
    elif host.euid() != 0:
        raise NotRoot("must be run as root")


def load_bcc() -> Any:
    """bcc's BPF class, imported now (not when xendix starts)."""
    try:
        from bcc import BPF
    except (ImportError, OSError) as e:  # OSError: libbcc.so missing or broken
        raise ProbeError(f"bcc is missing (python3 cannot import bcc: {e}): {INSTALL}") from None
    return BPF


def check_headers(system: System) -> None:
    """bcc compiles against the running kernel's headers."""
    release = system.release()
    base = system.modules / release
    if not ((base / "build").is_dir() or (base / "source").is_dir()
            or (system.sysfs / "kernel" / "kheaders.tar.xz").exists()):
        raise ProbeError(f"kernel headers for {release} are missing ({base}/build): "
                         f"apt install linux-headers-{release}")


def _format_fields(path: Path) -> set[str] | None:
    """The field names of a tracepoint's format file (None: unreadable)."""
    try:
        text = path.read_text()
    except OSError:
        return None
    fields = set()
    for m in re.finditer(r"field:([^;]*);", text):
        decl = re.sub(r"\[[^\]]*\]", "", m.group(1)).strip()
        fields.add(decl.split()[-1].lstrip("*"))
    return fields


def check_tracepoints(system: System, guest: bool, events: Iterable[str],
                      fields: dict[str, tuple[str, ...]] | None = None) -> Path:
    """The tracefs, once every event exists with every field the tool reads
    (``fields``: event -> names, by default every field the spec gives)."""
    tracefs = system.tracefs()
    if tracefs is None:
        raise ProbeError(f"tracefs is not mounted (no {system.sysfs}/kernel/tracing/events): "
                         f"mount -t tracefs nodev {system.sysfs}/kernel/tracing")
    sys_name = spec.system(guest)
    module = "xen-blkfront" if guest else "xen-blkback"
    first = f"{sys_name}_rq_complete"
    base = tracefs / "events" / sys_name
    if not (base / first).is_dir():
        if base.is_dir():
            raise ProbeError(f"{module} is loaded but has no {sys_name}:{first} tracepoint: it is "
                             f"not the patched one with issue 8's tracepoints (make -C kmod, "
                             f"then reload {module})")
        raise ProbeError(f"no {sys_name} tracepoints ({base / first}): the {module} module is "
                         f"not loaded (modprobe {module}) or not the patched one")
    want = fields or spec.EVENTS[sys_name]
    for event in events:
        name = f"{sys_name}_{event}"
        if not (base / name).is_dir():
            raise ProbeError(f"{module} has no {sys_name}:{name} tracepoint: not the patched "
                             f"module with issue 8's tracepoints")
        found = _format_fields(base / name / "format")
        if found is None:
            raise ProbeError(f"cannot read {base / name / 'format'} (root? tracefs mounted?)")
        missing = [f for f in want.get(name, ()) if f not in found]
        if missing:
            raise ProbeError(f"{sys_name}:{name} has no field {', '.join(missing)}: not issue 8's "
                             f"tracepoints (rebuild and reload the patched {module})")
    return tracefs


def choose_verify(kallsyms: set[str]) -> tuple[VerifyProbe, tuple[str, ...]] | None:
    """The first verify probe whose functions the kernel has, with those functions."""
    for probe in VERIFY_PROBES:
        present = probe.present(kallsyms)
        if present:
            return probe, present
    return None


def source(name: str) -> str:
    """A BPF source shipped in ``probes/bpf/``."""
    return (importlib.resources.files("xendix.probes") / "bpf" / name).read_text()


def program(tool: str, guest: bool, verify: VerifyProbe | None = None) -> str:
    """The tool's BPF C text for blkback (dom0) or blkfront (--guest)."""
    sys_name = spec.system(guest)
    parts = ["#define XENDIX_GUEST 1\n" if guest else "", source("common.h"), source(f"{tool}.bpf.c")]
    if verify is not None:
        parts.append(source(verify.source))
    text = "\n".join(parts)
    return text.replace("XENDIX_REJECTED", spec.REJECTED[sys_name]).replace("XENDIX_SYS", sys_name)


@dataclass
class Loaded:
    """A tool's program, compiled and attached, and what it traces."""

    bpf: Any
    header: str
    verify: tuple[str, ...] = ()


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else type(e).__name__


# Warnings that Linux 6.12's own x86 headers give with Debian 12's clang 14
# (percpu address spaces, nocf_check): printed on every start, about no
# line of ours.
CFLAGS = ("-Wno-duplicate-decl-specifier", "-Wno-ignored-attributes")


def load(host: Host, tool: str, guest: bool, events: tuple[str, ...], verify: bool = False,
         warn: Any = None) -> Loaded:
    """Check bcc, headers and tracepoints, then compile ``tool`` and attach
    it (its TRACEPOINT_PROBEs attach themselves; ``--guest`` verify probes
    are kprobes on entry and return).  ``warn`` hears a missing verify point."""
    preflight(host, guest)
    system = System.of(host)
    BPF = load_bcc()
    check_headers(system)
    check_tracepoints(system, guest, events)
    chosen = choose_verify(system.kallsyms()) if verify and guest else None
    if verify and guest and chosen is None and warn is not None:
        names = ", ".join(s for p in VERIFY_PROBES for s in p.symbols)
        warn(f"no guest PI verify function in {system.proc}/kallsyms ({names}): verify failures "
             f"are not counted (no T10 profile registered? t10_pi not loaded?)")
    try:
        b = BPF(text=program(tool, guest, chosen[0] if chosen else None), cflags=list(CFLAGS))
        for sym in chosen[1] if chosen else ():
            b.attach_kprobe(event=sym, fn_name="verify_entry")
            b.attach_kretprobe(event=sym, fn_name="verify_return")
    except Exception as e:  # bcc raises plain Exception; clang has printed its diagnostics
        raise ProbeError(f"bcc could not load xendix {tool}'s BPF program: {_first_line(e)}") from None
    sys_name = spec.system(guest)
    header = f"Tracing {sys_name} tracepoints ({', '.join(events)})"
    if verify and guest:
        header += (f"; guest verify failures by kprobe+kretprobe on {', '.join(chosen[1])} "
                   f"(Linux {chosen[0].kernel})" if chosen else "; guest verify failures: not probed")
    return Loaded(b, header + ". Hit Ctrl-C to end.", chosen[1] if chosen else ())


def disk_name_ok(name: str) -> bool:
    """A kernel disk name safe to put in a sysfs path."""
    return bool(_DISK.fullmatch(name)) and name not in (".", "..")


def drain(table: Any) -> list[tuple[Any, Any]]:
    """Every (key, value) of a BPF hash, removed as it is read (bcc's batch
    op; an older kernel: items, then clear, losing what lands between)."""
    batch = getattr(table, "items_lookup_and_delete_batch", None)
    if batch is not None:
        try:
            return list(batch())
        except Exception:  # the kernel lacks batch ops: bcc raises plain Exception
            pass
    items = list(table.items())
    table.clear()
    return items
