"""A dom0 and a PV domU for the bcc tools: a tracefs with issue 8's
tracepoints, kernel headers, /proc/kallsyms, and the fake bcc."""

from __future__ import annotations

import sys
from pathlib import Path
import pytest
from click.testing import CliRunner

from xendix.cli import main
from xendix.probes import bpf, spec

from ..conftest import make_disk
from .fakebcc import Kernel, Vbd, dev_t

RELEASE = "6.1.0-56-amd64"
SDA = dev_t(8, 0)  # the conftest's sda: T10-DIF-TYPE1-CRC, 512-byte intervals
XVDB_DEV = dev_t(202, 16)
WEB_XVDB = Vbd(1, 51728, SDA)  # vbd-1-51728: web's xvdb on dom0's sda
KALLSYMS_61 = ["t10_pi_type1_verify_crc", "t10_pi_type1_verify_ip", "t10_pi_type3_verify_crc",
               "t10_pi_type3_verify_ip", "t10_pi_type1_generate_crc"]
KALLSYMS_612 = ["blk_integrity_verify", "blk_integrity_generate", "bio_integrity_prep"]

TYPES = {"domid": "unsigned int", "handle": "unsigned int", "dev": "dev_t", "id": "u64",
         "sector": "u64", "nr_sectors": "unsigned int", "write": "bool", "dix": "bool",
         "status": "int", "kind": "int", "reason": "__data_loc char[]",
         "format": "__data_loc char[]", "interval": "unsigned int", "tuple_size": "unsigned int",
         "confirmed": "bool"}


def format_file(event: str, fields: tuple[str, ...]) -> str:
    """A tracepoint's format file as tracefs writes it."""
    lines = [f"name: {event}", "ID: 1500", "format:",
             "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;",
             "\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;", ""]
    for i, f in enumerate(fields):
        lines.append(f"\tfield:{TYPES[f]} {f};\toffset:{8 + 8 * i};\tsize:8;\tsigned:0;")
    return "\n".join(lines + ["", 'print fmt: "..."', ""])


def add_tracepoints(sysfs: Path, system: str, drop: tuple[str, ...] = (),
                    without: dict[str, str] | None = None, base: str = "kernel/tracing") -> None:
    """Issue 8's tracepoints of ``system`` in a tracefs under ``sysfs``;
    ``drop`` leaves events out, ``without`` one field of an event."""
    for event, fields in spec.EVENTS[system].items():
        if event in drop:
            continue
        d = sysfs / base / "events" / system / event
        d.mkdir(parents=True)
        if without and event in without:
            fields = tuple(f for f in fields if f != without[event])
        (d / "format").write_text(format_file(event, fields))


def kallsyms(proc: Path, names: list[str]) -> None:
    (proc / "kallsyms").write_text("".join(
        f"ffffffffc0{i:06x} t {n}\t[t10_pi]\n" for i, n in enumerate(names))
        + "ffffffff81000000 T _stext\nffffffff82000000 D some_data\n")


@pytest.fixture
def kernel(monkeypatch, host, tmp_path, proc) -> Kernel:
    """dom0 with the patched blkback: tracepoints, headers, the fake bcc;
    the host's sleep runs ``kernel.intervals`` one per call."""
    k = Kernel()
    monkeypatch.setitem(sys.modules, "bcc", k.module())
    monkeypatch.setattr(bpf, "MODULES", tmp_path / "lib" / "modules")
    (tmp_path / "lib" / "modules" / RELEASE / "build").mkdir(parents=True)
    (proc / "sys" / "kernel").mkdir(parents=True)
    (proc / "sys" / "kernel" / "osrelease").write_text(RELEASE + "\n")
    kallsyms(proc, KALLSYMS_61)
    add_tracepoints(host.sysfs, spec.BACKEND)

    def sleep(seconds: float) -> None:
        if k.intervals:
            k.intervals.pop(0)()  # may raise KeyboardInterrupt: Ctrl-C in this interval
        k.clock[0] += seconds

    host.sleep = sleep
    host.clock = lambda: k.clock[0]
    return k


@pytest.fixture
def web(store) -> Vbd:
    """web (domid 1) with xvdb on sda, which blkback offers T10-DIF-TYPE1-CRC (512/8)."""
    store.add_vbd(1, 51728, "xvdb")
    return WEB_XVDB


@pytest.fixture
def guest(kernel, host, proc) -> Kernel:
    """A PV domU with the patched blkfront: xvdb (202:16, T10-DIF-TYPE1-CRC)
    is vdevice 51728 of backend domain 0; no dom0, no xenstored."""
    kernel.system = spec.FRONTEND
    (proc / "xen" / "capabilities").write_text("\n")
    host.connect = lambda: pytest.fail("the guest tools must not need xenstored")
    add_tracepoints(host.sysfs, spec.FRONTEND)
    d = make_disk(host.sysfs, "xvdb", 202, 16, "T10-DIF-TYPE1-CRC")
    xenbus = host.sysfs / "bus" / "xen" / "devices" / "vbd-51728"
    (xenbus / "block").mkdir(parents=True)
    (xenbus / "block" / "xvdb").symlink_to(d)
    (d / "device").symlink_to(xenbus)
    return kernel


def run(host, *args: str):
    return CliRunner().invoke(main, list(args), obj=host)
