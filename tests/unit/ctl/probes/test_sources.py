"""The BPF C programs read only what issue 8's spec defines, are shipped
with the package, and come out of Python with every placeholder filled."""

from __future__ import annotations

import re
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest

from xendix.probes import bpf, spec

ROOT = Path(__file__).resolve().parents[4]
BPF_DIR = ROOT / "ctl" / "xendix" / "probes" / "bpf"
SPEC = ROOT / "docs" / "tracepoints.md"
TOOLS = ("top", "snoop", "dixlat")


def preprocess(text: str) -> str:
    """#ifdef XENDIX_GUEST / #else / #endif, as the C preprocessor takes them."""
    guest = "#define XENDIX_GUEST" in text
    return re.sub(r"#ifdef XENDIX_GUEST[^\n]*\n(.*?)(?:#else[^\n]*\n(.*?))?#endif[^\n]*\n",
                  lambda m: m.group(1) if guest else (m.group(2) or ""), text, flags=re.S)


def probes_of(text: str) -> dict[str, set[str]]:
    """TRACEPOINT_PROBE(system, event) -> the fields its body reads (args->x,
    and TP_DATA_LOC_READ*(dst, field, ...)), macros expanded by name."""
    text = preprocess(text)
    macros = {m.group(1): m.group(2) for m in re.finditer(
        r"#define (\w+)\([^)]*\)((?:.*\\\n)+.*)", text)}
    out: dict[str, set[str]] = {}
    for m in re.finditer(r"TRACEPOINT_PROBE\((\w+), (\w+)\)\s*\{(.*?)\n\}", text, re.S):
        body = m.group(3)
        for name, expansion in macros.items():
            if re.search(rf"\b{name}\(", body):
                body += expansion
        fields = set(re.findall(r"args->(\w+)", body))
        fields |= set(re.findall(r"TP_DATA_LOC_READ\w*\([^,]+,\s*(\w+)", body))
        out.setdefault(m.group(2), set()).update(fields)
    return out


@pytest.mark.parametrize("guest", [False, True], ids=["dom0", "guest"])
@pytest.mark.parametrize("tool", TOOLS)
def test_each_probe_reads_only_fields_the_spec_gives_its_event(tool, guest):
    system = spec.system(guest)
    found = probes_of(bpf.program(tool, guest))
    assert found, "no TRACEPOINT_PROBE"
    for event, fields in found.items():
        assert event in spec.EVENTS[system], f"{event} is not in the spec"
        assert fields <= set(spec.EVENTS[system][event]), (event, fields - set(spec.EVENTS[system][event]))
        assert "data_loc" not in " ".join(fields)


def test_the_tools_read_the_events_they_say_they_trace():
    from xendix.probes import dixlat, snoop, top

    for module, tool in ((top, "top"), (snoop, "snoop"), (dixlat, "dixlat")):
        for guest in (False, True):
            events = module.events(guest) if hasattr(module, "events") else module.EVENTS
            system = spec.system(guest)
            assert set(probes_of(bpf.program(tool, guest))) == {f"{system}_{e}" for e in events}


def test_every_field_read_is_one_of_the_spec_and_every_common_field_is_read():
    read = set()
    for tool in TOOLS:
        for guest in (False, True):
            for fields in probes_of(bpf.program(tool, guest)).values():
                read |= fields
    assert read == set(spec.COMMON) | {"reason"}


def test_the_field_list_is_the_spec_documents_when_it_is_here():
    text = SPEC.read_text()
    block = text.split("Common request fields", 1)[1].split("Events:", 1)[0]
    common = tuple(re.findall(r"^ {4}(?:u16/unsigned int|unsigned int|dev_t|u64|bool|int) +(\w+)",
                              block, re.M))
    assert common == spec.COMMON
    for system, events in spec.EVENTS.items():
        for event in events:
            assert f"`{event}`" in text, event
    for extra in ("reason", "format", "interval", "tuple_size", "confirmed"):
        assert extra in text
    assert {int(v): n for v, n in re.findall(r"^\| (\d)\s+\| `(\w+)`", text, re.M)} == spec.KINDS


def test_no_placeholder_is_left_and_the_guest_reads_blkfront():
    for tool in TOOLS:
        for guest, probe in ((False, None), (True, bpf.VERIFY_PROBES[0]), (True, bpf.VERIFY_PROBES[1])):
            text = bpf.program(tool, guest, probe)
            assert not re.search(r"XENDIX_(SYS|REJECTED)", text)
            other = spec.system(not guest)
            assert other not in text
            assert text.count("{") == text.count("}")
    assert "dix_refused" in bpf.program("snoop", True) and "dix_rejected" in bpf.program("snoop", False)
    assert bpf.program("snoop", True).startswith("#define XENDIX_GUEST 1")


def test_the_verify_probes_define_what_python_attaches():
    for probe in bpf.VERIFY_PROBES:
        text = bpf.source(probe.source)
        assert "int verify_entry(struct pt_regs *ctx," in text
        assert "int verify_return(struct pt_regs *ctx)" in text
        assert "on_verify(ctx, &f);" in text
    for tool in ("top", "snoop"):
        assert "static __always_inline void on_verify(struct pt_regs *ctx, struct verify_t *f)" \
            in bpf.source(f"{tool}.bpf.c")


def test_only_helpers_bcc_0_26_has_on_6_1():
    for path in BPF_DIR.iterdir():
        text = path.read_text()
        assert "ringbuf" not in text and "BPF_RINGBUF" not in text, path.name
        assert "bpf_loop" not in text and "bpf_ktime_get_boot_ns" not in text, path.name


def test_pyproject_ships_every_bpf_file():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = data["tool"]["setuptools"]["package-data"]["xendix.probes"]
    for path in BPF_DIR.iterdir():
        assert any(fnmatch(f"bpf/{path.name}", g) for g in globs), path.name


@pytest.mark.parametrize("names, chosen, symbols", [
    (["blk_integrity_verify", "t10_pi_type1_verify_crc"], "verify_bio.bpf.c", ("blk_integrity_verify",)),
    (["t10_pi_type1_verify_crc", "t10_pi_type3_verify_ip"], "verify_iter.bpf.c",
     ("t10_pi_type1_verify_crc", "t10_pi_type3_verify_ip")),
    (["t10_pi_type1_generate_crc"], None, ()),
])
def test_the_verify_point_is_the_first_that_kallsyms_lists(names, chosen, symbols):
    got = bpf.choose_verify(set(names))
    assert (got[0].source, got[1]) == (chosen, symbols) if chosen else got is None


def test_kallsyms_names_are_functions_only(tmp_path):
    (tmp_path / "kallsyms").write_text(
        "ffffffff81000000 T blk_integrity_verify\n"
        "ffffffffc0000000 t t10_pi_type1_verify_crc\t[t10_pi]\n"
        "ffffffff82000000 D t10_pi_type1_crc\n")
    system = bpf.System(tmp_path, tmp_path, tmp_path)
    assert system.kallsyms() == {"blk_integrity_verify", "t10_pi_type1_verify_crc"}
