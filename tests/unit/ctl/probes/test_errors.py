"""What the tools say when something they need is missing: one line each,
in the documented order, and usage errors for bad intervals and counts."""

from __future__ import annotations

import shutil
import sys

import pytest

from xendix import errors
from xendix.probes import spec
from xendix.xenstore import PyxsStore

from .conftest import RELEASE, add_tracepoints, run

TOOLS = [["top", "-C", "1", "1"], ["snoop"], ["dixlat", "1", "1"]]
IDS = ["top", "snoop", "dixlat"]


def one_line(r) -> str:
    assert r.stdout == "" and r.stderr.count("\n") == 1 and "Traceback" not in r.output, r.output
    assert r.stderr.startswith("xendix: ")
    return r.stderr


@pytest.mark.parametrize("args", TOOLS, ids=IDS)
def test_without_bcc_one_line_says_what_to_install(kernel, host, monkeypatch, args):
    monkeypatch.setitem(sys.modules, "bcc", None)  # import bcc raises ImportError
    r = run(host, *args)
    assert r.exit_code == errors.GENERIC
    line = one_line(r)
    assert line.startswith("xendix: bcc is missing (python3 cannot import bcc")
    assert line.endswith(": apt install python3-bpfcc linux-headers-$(uname -r)\n")


@pytest.mark.parametrize("args", TOOLS, ids=IDS)
def test_without_kernel_headers_one_line_names_the_package(kernel, host, tmp_path, args):
    shutil.rmtree(tmp_path / "lib" / "modules" / RELEASE)
    r = run(host, *args)
    assert r.exit_code == errors.GENERIC
    assert one_line(r) == (f"xendix: kernel headers for {RELEASE} are missing "
                           f"({tmp_path}/lib/modules/{RELEASE}/build): "
                           f"apt install linux-headers-{RELEASE}\n")


def test_without_blkback_tracepoints_the_module_is_not_loaded(kernel, host):
    shutil.rmtree(host.sysfs / "kernel" / "tracing" / "events" / "xen_blkback")
    r = run(host, "top", "1", "1")
    assert r.exit_code == errors.GENERIC
    assert one_line(r) == (
        "xendix: no xen_blkback tracepoints "
        f"({host.sysfs}/kernel/tracing/events/xen_blkback/xen_blkback_rq_complete): the "
        "xen-blkback module is not loaded (modprobe xen-blkback) or not the patched one\n")


def test_an_older_patched_blkback_is_named_not_the_patched_one(kernel, host):
    events = host.sysfs / "kernel" / "tracing" / "events" / "xen_blkback"
    shutil.rmtree(events)
    (events / "xen_blkback_dix_complete").mkdir(parents=True)  # the tracepoints before issue 8
    r = run(host, "snoop")
    assert "xen-blkback is loaded but has no xen_blkback:xen_blkback_rq_complete tracepoint: " \
           "it is not the patched one with issue 8's tracepoints" in one_line(r)


def test_an_event_without_a_field_of_the_spec_is_named(kernel, host):
    shutil.rmtree(host.sysfs / "kernel" / "tracing" / "events" / "xen_blkback")
    add_tracepoints(host.sysfs, spec.BACKEND, without={"xen_blkback_dix_error": "kind"})
    r = run(host, "snoop")
    assert "xen_blkback:xen_blkback_dix_error has no field kind: not issue 8's tracepoints" \
        in one_line(r)


def test_a_missing_event_is_named(kernel, host):
    shutil.rmtree(host.sysfs / "kernel" / "tracing" / "events" / "xen_blkback"
                  / "xen_blkback_rq_submit")
    assert "xen-blkback has no xen_blkback:xen_blkback_rq_submit tracepoint" in one_line(
        run(host, "dixlat", "1", "1"))


def test_without_tracefs_it_says_how_to_mount_it(kernel, host):
    shutil.rmtree(host.sysfs / "kernel" / "tracing")
    assert "tracefs is not mounted" in one_line(run(host, "top", "1", "1"))


def test_tracefs_under_debugfs_does_as_well(kernel, host):
    shutil.rmtree(host.sysfs / "kernel" / "tracing")
    add_tracepoints(host.sysfs, spec.BACKEND, base="kernel/debug/tracing")
    assert run(host, "top", "-C", "1", "1").exit_code == 0


def test_the_guest_tools_need_blkfronts_tracepoints(guest, host):
    shutil.rmtree(host.sysfs / "kernel" / "tracing" / "events" / "xen_blkfront")
    r = run(host, "snoop", "--guest")
    assert "no xen_blkfront tracepoints" in one_line(r) and "modprobe xen-blkfront" in r.stderr


def test_a_program_bcc_cannot_compile_is_one_line(kernel, host):
    kernel.compile_error = "Failed to compile BPF module <text>\nmore"
    r = run(host, "dixlat", "1", "1")
    assert one_line(r) == ("xendix: bcc could not load xendix dixlat's BPF program: "
                           "Failed to compile BPF module <text>\n")


# -- the command line -------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["top", "0"], ["top", "-1"], ["top", "abc"], ["top", "nan"], ["top", "inf"], ["top", "５"],
    ["top", "1", "0"], ["top", "1", "x"], ["top", "1", "2", "3"], ["dixlat", "0"],
    ["dixlat", "1", "-2"], ["snoop", "1"], ["top", "--jsno"]])
def test_a_bad_interval_or_count_is_a_one_line_usage_error(kernel, host, args):
    r = run(host, *args)
    assert r.exit_code == errors.USAGE, r.output
    assert one_line(r)
    assert kernel.loaded == []


LADDER = [
    ("top", ["top", "nan"], errors.USAGE, None),
    ("top", ["top", "1", "1"], errors.NOT_ROOT, None),
    ("top", None, errors.NOT_DOM0, "root"),
    ("top", None, errors.NO_XENSTORE, "dom0"),
    ("top", None, errors.GENERIC, "xenstore"),  # bcc missing
    ("top", None, errors.OK, "bcc"),
]


def test_the_checks_come_in_the_documented_order_then_bcc(kernel, host, proc, tmp_path,
                                                           monkeypatch, store):
    fake_bcc = sys.modules["bcc"]
    monkeypatch.setitem(sys.modules, "bcc", None)
    host.euid = lambda: 1000
    (proc / "xen" / "capabilities").write_text("\n")
    host.connect = lambda: PyxsStore(str(tmp_path / "no-xenstored"))
    fixes = {"root": lambda: setattr(host, "euid", lambda: 0),
             "dom0": lambda: (proc / "xen" / "capabilities").write_text("control_d\n"),
             "xenstore": lambda: setattr(host, "connect", lambda: store),
             "bcc": lambda: monkeypatch.setitem(sys.modules, "bcc", fake_bcc)}
    args, codes = None, []
    for _, new_args, _, fix in LADDER:
        if fix:
            fixes[fix]()
        args = new_args or args
        codes.append(run(host, *args).exit_code)
    assert codes == [code for _, _, code, _ in LADDER]


def test_a_guest_needs_root_but_neither_dom0_nor_xenstored(guest, host):
    host.euid = lambda: 1000
    assert run(host, "top", "--guest", "-C", "1", "1").exit_code == errors.NOT_ROOT
    host.euid = lambda: 0
    assert run(host, "top", "--guest", "-C", "1", "1").exit_code == errors.OK


@pytest.mark.parametrize("command", ["top", "snoop", "dixlat"])
def test_each_tools_help_has_examples_that_parse(host, command):
    from xendix.cli import main

    out = run(host, command, "--help").stdout
    assert "-j, --json" in out and "--guest" in out
    examples = out.split("Examples:\n\n")[1].splitlines()
    assert examples and all(line.startswith(f"    xendix {command}") for line in examples)
    for line in examples:
        with main.commands[command].make_context(command, line.split()[2:]):
            pass
