"""blkif32_test (lab/dom0/blkif32-test), the module that runs blkback's
translation of x86_32 ring requests in dom0: how the host builds it and
puts it in the job, how dom0 reads what it logged, and (marker
``kbuild``) that it builds against each series warning-free, is
checkpatch clean, and that its cases pass, and fail when told to, against
the series' own translation compiled for the host."""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from lab.host import debian, job, kmod
from lab.host import series as kseries

SERIES = tuple(kseries.names())
SOURCE = kmod.BLKIF32_TEST / "blkif32_test.c"
KBUILD = kmod.REPO / "kmod" / "xendix-kbuild"
CASE_LINE = re.compile(r"blkif32_test: case (\S+): (.*)")


DMESG = """\
[    9.1] xen-blkback: backend ready
[   10.0] labguest: run blkif32_test 1
[   10.1] blkif32_test: case x32_read_pair: FAIL field slot1.u.integrity.id: got 0x1 want 0x2
[   10.2] blkif32_test: 2 cases, 1 failed
[   11.0] labguest: run blkif32_test 2
[   11.1] blkif32_test: case x32_read_pair: ok
[   11.2] blkif32_test: case x32_discard: FAIL field slot0.u.discard.nr_sectors: got 0x8 want 0x9
[   11.3] blkif32_test: 2 cases, 1 failed
"""


def test_the_log_gives_each_case_its_verdict_and_the_summary(labguest):
    cases, summary = labguest.blkif32_test_log(DMESG.split("[   11.0]")[1])
    assert cases == {"x32_read_pair": "ok",
                     "x32_discard": "FAIL field slot0.u.discard.nr_sectors: got 0x8 want 0x9"}
    assert summary == "2 cases, 1 failed"
    assert labguest.blkif32_test_log("[ 1.0] blkif32_test: mutate=nope names no case\n") == \
        ({}, "mutate=nope names no case")


class FakeKernel:
    """insmod, rmmod and dmesg of a dom0 where blkif32_test logs ``lines``
    and stays loaded when ``passes``."""

    def __init__(self, sys_module: Path, lines: list[str], passes: bool) -> None:
        self.sys_module, self.lines, self.passes = sys_module, lines, passes
        self.calls: list[tuple[str, ...]] = []
        self.log = "[    1.0] blkif32_test: case x32_read_pair: FAIL from an earlier load\n"

    def kmsg(self, text: str) -> None:
        self.log += f"[    2.0] {text}"

    def sh(self, *argv: str, timeout: float = 60, check: bool = True, input_=None):
        assert timeout <= 60
        self.calls.append(argv)
        loaded = self.sys_module / "blkif32_test"
        rc, err = 0, ""
        if argv[0] == "insmod":
            self.log += "".join(f"[    3.0] blkif32_test: {line}\n" for line in self.lines)
            if self.passes:
                loaded.mkdir()
            else:
                rc, err = 1, "insmod: ERROR: could not insert module: Invalid parameters"
        elif argv[0] == "rmmod":
            loaded.rmdir()
        return subprocess.CompletedProcess(argv, rc, self.log if argv[0] == "dmesg" else "", err)


@pytest.mark.parametrize("passes", [True, False])
def test_run_blkif32_test_loads_reads_its_own_lines_and_unloads(labguest, monkeypatch, tmp_path, passes):
    knobs = sys.modules["labguest.knobs"]
    lines = ["case x32_read_pair: ok" if passes else
             "case x32_read_pair: FAIL field slot1.u.integrity.id: got 0x1 want 0x0",
             f"1 cases, {0 if passes else 1} failed"]
    kernel = FakeKernel(tmp_path, lines, passes)

    class Kmsg:
        @staticmethod
        def write_text(text: str) -> None:
            kernel.kmsg(text)

    monkeypatch.setattr(knobs, "sh", kernel.sh)
    monkeypatch.setattr(knobs, "SYS_MODULE", tmp_path)
    monkeypatch.setattr(knobs, "KMSG", Kmsg)
    monkeypatch.setattr(knobs, "LAB", Path("/lab"))
    got = labguest.run_blkif32_test(mutate="" if passes else "x32_read_pair")
    insmod = ("insmod", "/lab/modules/blkif32-test.ko") + (() if passes else ("mutate=x32_read_pair",))
    assert kernel.calls[0] == insmod
    assert got["loaded"] is passes and (got["rc"] == 0) is passes
    assert got["cases"] == {"x32_read_pair": lines[0].split(": ", 1)[1]}
    assert got["summary"] == lines[1]
    # Unloaded again, whatever happened.
    assert not (tmp_path / "blkif32_test").exists()
    assert (("rmmod", "blkif32_test") in kernel.calls) is passes


def test_the_job_carries_the_module_for_dom0(monkeypatch, tmp_path):
    """make_job builds blkif32_test against the job's series, kernel and
    patches and puts it at modules/blkif32-test.ko."""
    tree = tmp_path / "tree"
    (tree / "boot").mkdir(parents=True)
    (tree / "boot" / "vmlinuz-6.1.0-1-amd64").write_bytes(b"kernel")
    scenario_dir = tmp_path / "scenario"
    scenario_dir.mkdir()
    (scenario_dir / "dom0.py").write_text("")
    scenario = job.Scenario("t", scenario_dir, 60, "patched", False, "a test")
    builds = {}
    for flavour in job.KMOD_FLAVOURS:
        d = tmp_path / flavour
        d.mkdir()
        for m in kmod.MODULES:
            (d / m).write_bytes(m.encode())
        builds[flavour] = kmod.ModuleBuild("6.1", "6.1.0-1-amd64", flavour, d)
    fake = tmp_path / "blkif32_test.ko"
    fake.write_bytes(b"blkif32_test")
    asked = []

    def build_blkif32_test(series, abi, patch_dir):
        asked.append((series, abi, patch_dir))
        return fake

    monkeypatch.setattr(job.debian, "kernel_tree", lambda abi: tree)
    monkeypatch.setattr(job, "build_fuzzfront", lambda *a: tmp_path / "fuzzfront.ko")
    monkeypatch.setattr(job, "build_blkif32_test", build_blkif32_test)
    monkeypatch.setattr(job, "domu_initramfs", lambda *a, **k: fake)
    monkeypatch.setattr(job, "job_description", lambda *a, **k: {})
    path = job.make_job(tmp_path, scenario, "6.1", "6.1.0-1-amd64", builds, tmp_path,
                        patch_dir=tmp_path / "patches")
    assert asked == [("6.1", "6.1.0-1-amd64", tmp_path / "patches")]
    with tarfile.open(path) as tar:
        assert tar.extractfile("modules/blkif32-test.ko").read() == b"blkif32_test"
        assert tar.getmember("modules/patched/xen-blkback.ko").isfile()


# -- kbuild: the build, and the cases against each series' translation ------


@pytest.mark.kbuild
@pytest.mark.parametrize("series", SERIES)
def test_blkif32_test_is_checkpatch_strict_clean(tmp_path, series, checkpatch):
    proc = subprocess.run(["perl", str(checkpatch(series)), "--strict", "--no-tree",
                           "--terse", "-f", str(SOURCE)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


@pytest.mark.kbuild
@pytest.mark.parametrize("series", SERIES)
def test_blkif32_test_builds_against_the_series_and_needs_no_other_module(series):
    """The job carries it (make_job) and dom0 loads it with insmod alone."""
    ko = kmod.build_blkif32_test(series)
    assert ko.name == "blkif32_test.ko" and ko.exists()
    assert kmod.modinfo(ko, "name") == "blkif32_test"
    assert kmod.modinfo(ko, "license") == "GPL"
    assert kmod.modinfo(ko, "depends") == ""
    assert kmod.modinfo(ko, "vermagic").split()[0] == debian.kernel_abi(series)
    assert "mutate" in kmod.modinfo(ko, "parm")


@pytest.fixture(scope="module", params=SERIES, ids=SERIES)
def patched_tree(request, tmp_path_factory) -> tuple[str, Path]:
    """The series' patched xen-block sources (xendix-kbuild --extract-only)."""
    series = request.param
    out = tmp_path_factory.mktemp(f"tree-{series}")
    proc = subprocess.run([str(KBUILD), "--series", series, "--extract-only", "--build-dir", str(out)],
                          capture_output=True, text=True, env=kmod.kbuild_env())
    if proc.returncode != 0:
        pytest.skip(proc.stderr.strip().splitlines()[-1])
    return series, out


@pytest.mark.kbuild
def test_blkif32_test_is_sparse_and_w1_warning_clean(patched_tree):
    """`make W=1 C=1`: neither the compiler's extra warnings nor sparse say
    anything about the module (common.h and the translation included)."""
    series, tree = patched_tree
    for src in (SOURCE, kmod.BLKIF32_TEST / "Kbuild"):
        (tree / src.name).write_bytes(src.read_bytes())
    abi = debian.kernel_abi(series)
    proc = subprocess.run(["make", "-C", f"/lib/modules/{abi}/build", f"M={tree}", "W=1", "C=1",
                           "modules"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    noise = [line for line in (proc.stdout + proc.stderr).splitlines()
             if "warning" in line or "error" in line]
    assert not noise, "\n".join(noise)
    assert (tree / "blkif32_test.ko").exists()


# The module's cases compiled for the host: the kernel API it uses, in C.
SHIM = r"""
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <errno.h>
typedef uint8_t u8; typedef uint16_t u16; typedef uint32_t u32; typedef unsigned long long u64;
#define static_assert(e, ...) _Static_assert(e, #e)
#define sizeof_field(T, m) sizeof(((T *)0)->m)
#define __packed __attribute__((__packed__))
#define __init
#define __exit
#define KBUILD_MODNAME "blkif32_test"
#define pr_info(fmt, ...) printf(pr_fmt(fmt), ##__VA_ARGS__)
#define pr_err(fmt, ...) printf(pr_fmt(fmt), ##__VA_ARGS__)
#define module_param(n, t, p)
#define MODULE_PARM_DESC(n, d)
#define MODULE_DESCRIPTION(d)
#define MODULE_LICENSE(l)
#define module_init(f) static int (*const b32_init)(void) = f
#define module_exit(f) static void (*const b32_exit)(void) __attribute__((unused)) = f
#define GFP_KERNEL 0
#define get_zeroed_page(g) ((unsigned long)calloc(1, 4096))
#define free_page(p) free((void *)(p))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define READ_ONCE(x) (*(volatile __typeof__(x) *)&(x))
#define barrier() __asm__ __volatile__("" ::: "memory")
#define min(a, b) ((a) < (b) ? (a) : (b))
#define min_t(t, a, b) ((t)(a) < (t)(b) ? (t)(a) : (t)(b))
#define DIV_ROUND_UP(n, d) (((n) + (d) - 1) / (d))
#define PAGE_SIZE 4096UL
#define XEN_PAGE_SIZE 4096UL
"""

MAIN = r"""
int main(int argc, char **argv)
{
	if (argc > 1)
		mutate = argv[1];
	return b32_init() ? 1 : 0;
}
"""

# blkif32_test's Kbuild copies the translation out of blkback.c the same way.
XLATE = r"/^static \(inline \)\?void blkif_get_x86_\(32\|64\)_req(/,/^}/p"


def sed(expr: str, path: Path) -> str:
    return subprocess.run(["sed", "-n", expr, str(path)], capture_output=True, text=True,
                          check=True).stdout


def kernel_header(abi: str, name: str) -> Path:
    """A header of the kernel's headers package (its -common half)."""
    first = Path(f"/lib/modules/{abi}/build/Makefile").read_text().splitlines()[0]
    common = Path(first.split()[1]).parent if first.startswith("include ") else \
        Path(f"/lib/modules/{abi}/build")
    return common / "include" / name


@pytest.fixture(scope="module")
def host_cases(patched_tree, tmp_path_factory) -> tuple[str, Path]:
    """blkif32_test.c, built for the host with the series' patched blkif.h,
    the request structures of its common.h and its translation functions."""
    series, tree = patched_tree
    if subprocess.run(["gcc", "--version"], capture_output=True).returncode != 0:
        pytest.skip("no gcc")
    work = tmp_path_factory.mktemp(f"host-{series}")
    inc = work / "include"
    for name in ("build_bug", "gfp", "kernel", "module", "stddef", "string"):
        (inc / "linux").mkdir(parents=True, exist_ok=True)
        (inc / "linux" / f"{name}.h").write_text("")
    io = inc / "xen" / "interface" / "io"
    io.mkdir(parents=True)
    (inc / "xen" / "interface" / "grant_table.h").write_text("typedef uint32_t grant_ref_t;\n")
    (io / "ring.h").write_bytes(kernel_header(debian.kernel_abi(series),
                                              "xen/interface/io/ring.h").read_bytes())
    (io / "blkif.h").write_bytes((tree / "include/xen/interface/io/blkif.h").read_bytes())
    common = tree / "drivers/block/xen-blkback/common.h"
    structs = sed("/^#define MAX_INDIRECT_SEGMENTS/,/^union blkif_back_rings/p", common)
    assert "struct blkif_x86_32_request_integrity" in structs
    (work / "common.h").write_text(
        "#include <xen/interface/io/ring.h>\n#include <xen/interface/io/blkif.h>\n"
        + structs.rsplit("union blkif_back_rings", 1)[0] + sed(XLATE, common))
    (work / "blkif32_xlate.h").write_text(sed(XLATE, tree / "drivers/block/xen-blkback/blkback.c"))
    (work / "shim.h").write_text(SHIM)
    (work / "t.c").write_text(SOURCE.read_text() + MAIN)
    exe = work / "blkif32_test"
    proc = subprocess.run(["gcc", "-std=gnu11", "-O2", "-Wall", "-include", str(work / "shim.h"),
                           f"-I{work}", f"-I{inc}", "-o", str(exe), str(work / "t.c")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return series, exe


def run_cases(exe: Path, *args: str) -> tuple[int, dict[str, str], str]:
    proc = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=60)
    lines = proc.stdout.splitlines()
    cases = {m.group(1): m.group(2) for m in map(CASE_LINE.fullmatch, lines) if m}
    return proc.returncode, cases, lines[-1] if lines else ""


@pytest.mark.kbuild
def test_every_case_passes_against_the_series_translation(host_cases):
    """What dom0 will see, checked on the host first: the series' own
    blkif_get_x86_32_req() and blkif_get_x86_64_req() produce every field
    that each case expects."""
    _, exe = host_cases
    rc, cases, summary = run_cases(exe)
    assert rc == 0, cases
    assert len(cases) >= 20 and set(cases.values()) == {"ok"}
    assert summary == f"blkif32_test: {len(cases)} cases, 0 failed"
    names = set(cases)
    assert {"x32_read_pair", "x32_indirect_read_pair", "x32_indirect_write_pair",
            "x32_integrity_16_segments", "x32_integrity_reserved_grefs",
            "x32_discard", "x32_flush"} <= names


@pytest.mark.kbuild
def test_mutate_fails_exactly_that_case_naming_a_field(host_cases):
    """mutate=NAME makes the harness expect one wrong field of case NAME:
    that case, and it alone, fails, and the load fails."""
    _, exe = host_cases
    _, cases, _ = run_cases(exe)
    for name in cases:
        rc, got, summary = run_cases(exe, name)
        assert rc == 1, name
        assert re.fullmatch(r"FAIL field slot\d\.\S+: got 0x[0-9a-f]+ want 0x[0-9a-f]+", got[name]), got
        assert {n for n, v in got.items() if v != "ok"} == {name}
        assert summary == f"blkif32_test: {len(cases)} cases, 1 failed"
    rc, got, summary = run_cases(exe, "no_such_case")
    assert rc == 1 and got == {} and summary == "blkif32_test: mutate=no_such_case names no case"
