"""The module build from Debian's sources (kmod/xendix-kbuild).  These run
the real script against the installed linux-source and headers (marker
``kbuild``; a test that needs a series' source package skips without it)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from lab.host import kmod
from lab.host import series as kseries

pytestmark = pytest.mark.kbuild
SERIES = kseries.names()
OLDEST = kseries.default()

KBUILD = kmod.REPO / "kmod" / "xendix-kbuild"
MODINFO = shutil.which("modinfo", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


def needs_source(series: str) -> pytest.MarkDecorator:
    """Skip, saying why, where the series' Debian source package is not installed."""
    source = kseries.load(series).source
    tarball = Path(f"/usr/src/{source}.tar.xz")
    return pytest.mark.skipif(not tarball.exists(),
                              reason=f"{tarball} is missing: apt-get install {source}")


needs_modinfo = pytest.mark.skipif(MODINFO is None, reason="modinfo (kmod) is not installed")
needs_dkms = pytest.mark.skipif(shutil.which("dkms", path=os.environ.get("PATH", "") + ":/usr/sbin")
                                is None, reason="dkms is not installed")


def kbuild(*args: str, **kw) -> subprocess.CompletedProcess[str]:
    """xendix-kbuild with the lab's sources folder (each tarball read once),
    unless ``env`` says otherwise."""
    kw.setdefault("env", kmod.kbuild_env())
    return subprocess.run([str(KBUILD), *args], capture_output=True, text=True, **kw)


def without_sources_folder() -> dict[str, str]:
    """The environment of a user's build: no XENDIX_KBUILD_SOURCES."""
    return {k: v for k, v in os.environ.items() if k != "XENDIX_KBUILD_SOURCES"}


def series_field(series: str) -> str:
    """The modinfo field a build of patches/<series> must carry."""
    patches = kmod.patch_files(series)
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in patches)).hexdigest()[:12]
    return f"series={series} patches={len(patches)} sha256={digest}"


def xendix_field(ko: Path) -> str:
    """`modinfo -F xendix` of a module."""
    proc = subprocess.run([str(MODINFO), "-F", "xendix", str(ko)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def assert_carries_the_series(directory: Path, series: str) -> None:
    """Both modules name patches/<series> and its hash; blkback has the DIX code."""
    folder = kmod.REPO / "patches" / series
    assert kmod.patch_files(series) == sorted(p for p in folder.glob("*.patch")
                                              if p.name != "0000-cover-letter.patch")
    for m in kmod.MODULES:
        assert xendix_field(directory / m) == series_field(series), m
    assert b"feature-data-integrity" in (directory / "xen-blkback.ko").read_bytes()


# git format-patch style, like patches/<series>: "diff --git" paths are
# relative to the top of a work tree, which is what git apply skipped.
SMALL_PATCH = (
    "Subject: [PATCH] two files\n\n---\n"
    "diff --git a/drivers/block/xen-blkfront.c b/drivers/block/xen-blkfront.c\n"
    "--- a/drivers/block/xen-blkfront.c\n+++ b/drivers/block/xen-blkfront.c\n"
    "@@ -1,3 +1,4 @@\n+/* xen-dix was here */\n {first}\n {second}\n {third}\n"
    "diff --git a/include/xen/interface/io/blkif.h b/include/xen/interface/io/blkif.h\n"
    "--- a/include/xen/interface/io/blkif.h\n+++ b/include/xen/interface/io/blkif.h\n"
    "@@ -1,3 +1,4 @@\n+/* xen-dix was here */\n {h1}\n {h2}\n {h3}\n")


def small_series(folder: Path, series: str = OLDEST) -> Path:
    """A one-patch series that adds a comment to the top of blkfront and blkif.h."""
    pristine = folder / "pristine"
    kbuild("--series", series, "--no-patches", "--build-dir", str(pristine), "--extract-only",
           check=True)
    front = (pristine / "drivers/block/xen-blkfront.c").read_text().splitlines()[:3]
    blkif = (pristine / "include/xen/interface/io/blkif.h").read_text().splitlines()[:3]
    patches = folder / "patches"
    patches.mkdir()
    (patches / "0001-two-files.patch").write_text(
        SMALL_PATCH.format(first=front[0], second=front[1], third=front[2],
                           h1=blkif[0], h2=blkif[1], h3=blkif[2]))
    return patches


def test_the_abi_is_resolved_from_the_metapackages_not_hard_coded():
    for series in SERIES:
        proc = kbuild("--series", series, "--print-abi")
        assert proc.returncode == 0, proc.stderr
        abi = proc.stdout.strip()
        assert abi.startswith(series + ".") and abi.endswith("-amd64"), abi


def test_an_unknown_series_is_refused_in_one_line():
    proc = kbuild("--series", "6.3")
    assert proc.returncode != 0
    assert proc.stderr.strip() == \
        f"xendix-kbuild: unknown kernel series '6.3' (known: {', '.join(SERIES)})"


@needs_source(OLDEST)
@needs_modinfo
@pytest.mark.parametrize("stock", ["--patch-dir=empty", "--no-patches"])
def test_a_stock_build_has_both_modules_from_debian_sources_and_says_patches_0(tmp_path, stock):
    empty = tmp_path / "patches"
    empty.mkdir()
    args = ["--patch-dir", str(empty)] if stock == "--patch-dir=empty" else ["--no-patches"]
    proc = kbuild("--series", OLDEST, *args, "--build-dir", str(tmp_path / "b"))
    assert proc.returncode == 0, proc.stderr
    out = Path(proc.stdout.strip().splitlines()[-1])
    assert (out / "xen-blkfront.ko").exists() and (out / "xen-blkback.ko").exists()
    assert "0 patch(es) applied" in proc.stderr
    for m in kmod.MODULES:
        assert xendix_field(out / m) == f"series={OLDEST} patches=0 sha256=none", m
    assert b"feature-data-integrity" not in (out / "xen-blkback.ko").read_bytes()
    # Only the xen-block files are extracted, never the whole tree; the
    # generated files hold nothing but the modinfo field.
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*.c") if ".mod" not in p.name)
    assert files == ["drivers/block/xen-blkback/blkback.c", "drivers/block/xen-blkback/xenbus.c",
                     "drivers/block/xen-blkfront.c", "xendix-series-xen-blkback.c",
                     "xendix-series-xen-blkfront.c"]


@needs_source(OLDEST)
def test_a_patch_that_does_not_apply_stops_the_build_with_its_name(tmp_path):
    series = tmp_path / "patches"
    series.mkdir()
    (series / "0001-wrong-context.patch").write_text(
        "Subject: [PATCH] wrong\n\n---\n"
        "--- a/drivers/block/xen-blkfront.c\n+++ b/drivers/block/xen-blkfront.c\n"
        "@@ -1,3 +1,3 @@\n this line\n-is not\n+in the file\n at all\n")
    proc = kbuild("--series", OLDEST, "--patch-dir", str(series), "--build-dir", str(tmp_path / "b"))
    assert proc.returncode != 0
    assert f"xendix-kbuild: patch 0001-wrong-context.patch does not apply to {kseries.load(OLDEST).source}" \
        in proc.stderr
    assert not (tmp_path / "b" / "xen-blkfront.ko").exists()


@pytest.mark.parametrize("series", SERIES)
def test_the_patch_series_applies_with_git_am(tmp_path, series):
    """patches/<series> is a git am-able series on the pristine files."""
    patches = kmod.patch_files(series)
    if not patches:
        pytest.skip(f"patches/{series} is empty")
    tree = tmp_path / "tree"
    kbuild("--series", series, "--no-patches", "--build-dir", str(tree), "--extract-only", check=True)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@localhost"]
    subprocess.run(["git", "init", "-q"], cwd=tree, check=True)
    subprocess.run(git + ["add", "-A"], cwd=tree, check=True)
    subprocess.run(git + ["commit", "-qm", "pristine"], cwd=tree, check=True)
    proc = subprocess.run(git + ["am", "-q", *map(str, patches)], cwd=tree, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@needs_source(OLDEST)
@needs_dkms
@needs_modinfo
def test_dkms_builds_both_modules_for_an_installed_kernel_and_they_carry_the_series(tmp_path):
    """dkms.conf drives the same build for a kernel DKMS names."""
    abi = kbuild("--series", OLDEST, "--print-abi").stdout.strip()
    src = tmp_path / "src" / "xen-dix-0.1.0"
    files = subprocess.run(["git", "ls-files"], cwd=kmod.REPO, capture_output=True, text=True,
                           check=True).stdout.split()
    for f in files + ["dkms.conf"]:
        if (kmod.REPO / f).is_file():
            (src / f).parent.mkdir(parents=True, exist_ok=True)
            (src / f).write_bytes((kmod.REPO / f).read_bytes())
            (src / f).chmod((kmod.REPO / f).stat().st_mode)
    (tmp_path / "tree").mkdir()
    trees = ["--dkmstree", str(tmp_path / "tree"), "--sourcetree", str(tmp_path / "src")]
    for step in (["add"], ["build", "-k", abi]):
        proc = subprocess.run(["dkms", *step, *trees, "-m", "xen-dix", "-v", "0.1.0"],
                              capture_output=True, text=True, env=without_sources_folder())
        assert proc.returncode == 0, proc.stdout + proc.stderr
    built = tmp_path / "tree" / "xen-dix" / "0.1.0" / abi / "x86_64" / "module"
    assert sorted(p.name for p in built.iterdir()) == ["xen-blkback.ko", "xen-blkfront.ko"]
    # What DKMS built carries patches/6.1, not Debian's stock drivers.
    assert_carries_the_series(built, OLDEST)


@pytest.mark.parametrize("series", SERIES)
def test_every_patch_is_checkpatch_strict_clean(series):
    if not kmod.patch_files(series):
        pytest.skip(f"patches/{series} is empty")
    env = {**os.environ, "CHECKPATCH": str(kmod.checkpatch_script(series))}
    proc = subprocess.run([str(kmod.REPO / "kmod" / "checkpatch-series"), series],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_checkpatch_series_names_a_bad_patch_of_either_kind(tmp_path):
    """checkpatch-series runs checkpatch once for the driver patches and once
    for the patches that touch only Xen's public headers: a trailing blank
    added to one patch of each kind fails it, naming both."""
    if not kmod.patch_files(OLDEST):
        pytest.skip(f"patches/{OLDEST} is empty")
    repo = tmp_path / "repo"
    shutil.copytree(kmod.REPO / "kmod", repo / "kmod")
    shutil.copytree(kmod.REPO / "patches" / OLDEST, repo / "patches" / OLDEST)
    patches = sorted((repo / "patches" / OLDEST).glob("0*.patch"))[1:]
    headers_only = next(p for p in patches if all(
        " a/include/xen/interface/" in l for l in p.read_text().splitlines()
        if l.startswith("diff --git ")))
    driver = next(p for p in patches if "xen-blkback/blkback.c" in p.read_text())
    for bad in (headers_only, driver):
        text = bad.read_text()
        i = text.index("\n+", text.index("\n@@ "))
        bad.write_text(text[:i + 2] + "+/* trailing blank */ \n" + text[i + 2:])
    env = {**os.environ, "CHECKPATCH": str(kmod.checkpatch_script(OLDEST))}
    proc = subprocess.run([str(repo / "kmod" / "checkpatch-series"), OLDEST],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    flagged = {Path(l.split(":")[0]).name for l in proc.stdout.splitlines()
               if "trailing whitespace" in l}
    assert flagged == {headers_only.name, driver.name}, proc.stdout


@pytest.fixture(scope="module", params=SERIES, ids=SERIES)
def default_build(request, tmp_path_factory) -> tuple[str, subprocess.CompletedProcess[str]]:
    """The README's build of a series, with sparse (`make C=2`), once for
    the tests that look at it."""
    series = request.param
    if not kmod.patch_files(series):
        pytest.skip(f"patches/{series} is empty")
    out = tmp_path_factory.mktemp(f"default-{series}")
    return series, kbuild("--series", series, "--sparse", "--build-dir", str(out))


def test_the_patched_drivers_are_sparse_and_warning_clean(default_build):
    """`make C=2`: sparse and the compiler say nothing about our drivers."""
    _, proc = default_build
    assert proc.returncode == 0, proc.stderr
    noise = [l for l in proc.stderr.splitlines()
             if "xen-blk" in l and ("warning" in l or "error" in l)]
    assert not noise, "\n".join(noise)


@needs_modinfo
@pytest.mark.parametrize("series", SERIES)
def test_fault_injection_builds_warning_clean_and_says_so(tmp_path, series):
    """--fault-injection on Debian's kernels, which lack CONFIG_FAULT_INJECTION:
    the kernel's lib/fault-inject.c goes into xen-blkback.ko with the per-vbd
    attributes, the modinfo field says fault-injection=yes, and sparse and
    the compiler say nothing about our drivers."""
    if not kmod.patch_files(series):
        pytest.skip(f"patches/{series} is empty")
    proc = kbuild("--series", series, "--sparse", "--fault-injection",
                  "--build-dir", str(tmp_path / "b"))
    assert proc.returncode == 0, proc.stderr
    noise = [l for l in proc.stderr.splitlines()
             if ("xen-blk" in l or "fault-inject" in l) and ("warning" in l or "error" in l)]
    assert not noise, "\n".join(noise)
    out = Path(proc.stdout.strip().splitlines()[-1])
    assert xendix_field(out / "xen-blkback.ko") == series_field(series) + " fault-injection=yes"
    assert xendix_field(out / "xen-blkfront.ko") == series_field(series) + " fault-injection=yes"
    blkback = (out / "xen-blkback.ko").read_bytes()
    assert b"fail_dix_read" in blkback and b"fail_dix_write" in blkback
    assert b"vbd-%u-%u" in blkback


def test_without_fault_injection_the_hooks_are_compiled_out(default_build):
    """The default build has no fault attributes."""
    _, proc = default_build
    assert proc.returncode == 0, proc.stderr
    out = Path(proc.stdout.strip().splitlines()[-1])
    assert b"fail_dix_read" not in (out / "xen-blkback.ko").read_bytes()


@pytest.mark.parametrize("series", SERIES)
def test_the_series_has_a_cover_letter(series):
    patches = kmod.REPO / "patches" / series
    if not kmod.patch_files(series):
        pytest.skip(f"patches/{series} is empty")
    cover = (patches / "0000-cover-letter.patch").read_text()
    assert re.search(r"^Subject: \[PATCH 0+/\d+\] \S", cover, re.M) and "*** SUBJECT HERE ***" not in cover
    assert "*** BLURB HERE ***" not in cover


@needs_source(OLDEST)
@needs_modinfo
def test_the_readmes_command_in_the_checkout_builds_modules_that_carry_the_series():
    """`make -C kmod KSERIES=6.1` from the top of the git checkout, build folder
    build/6.1/<abi>/ inside the work tree: both modules name patches/6.1."""
    abi = kbuild("--series", OLDEST, "--print-abi").stdout.strip()
    proc = subprocess.run(["make", "-C", "kmod", f"KSERIES={OLDEST}"], cwd=kmod.REPO,
                          capture_output=True, text=True, env=without_sources_folder())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = kmod.REPO / "build" / OLDEST / abi
    assert proc.stdout.strip().splitlines()[-2] == str(out)  # before make's "Leaving directory"
    n = len(kmod.patch_files(OLDEST))
    assert f"{n} patch(es) applied ({series_field(OLDEST)})" in proc.stdout + proc.stderr
    assert_carries_the_series(out, OLDEST)


@needs_source(OLDEST)
def test_a_sources_folder_is_filled_once_a_tarball_and_builds_copy_from_it(tmp_path):
    """XENDIX_KBUILD_SOURCES: the tarball's pristine files are extracted
    once (keyed by its size and mtime), and each build copies them; what a
    build gets is what a build without the folder extracts."""
    sources = tmp_path / "sources"
    env = {**without_sources_folder(), "XENDIX_KBUILD_SOURCES": str(sources)}
    args = ("--series", OLDEST, "--no-patches", "--extract-only")
    first = kbuild(*args, "--fault-injection", "--build-dir", str(tmp_path / "a"), env=env)
    assert first.returncode == 0, first.stderr
    tarball = Path(f"/usr/src/{kseries.load(OLDEST).source}.tar.xz")
    st = tarball.stat()
    filled = [p.name for p in sources.iterdir()]
    assert filled == [f"{tarball.name[:-len('.tar.xz')]}-{st.st_size}-{int(st.st_mtime)}"]
    plain = kbuild(*args, "--fault-injection", "--build-dir", str(tmp_path / "p"),
                   env=without_sources_folder())
    assert plain.returncode == 0, plain.stderr

    def files(d: Path) -> dict[str, bytes]:
        return {str(f.relative_to(d)): f.read_bytes() for f in d.rglob("*") if f.is_file()}
    assert files(tmp_path / "a") == files(tmp_path / "p")
    assert "lib/fault-inject.c" in files(tmp_path / "a")
    # The next build copies from the folder: a mark left there shows up,
    # and a build without --fault-injection gets no lib/.
    pristine = sources / filled[0] / "drivers" / "block" / "xen-blkfront.c"
    pristine.write_text("/* from the sources folder */\n" + pristine.read_text())
    second = kbuild(*args, "--build-dir", str(tmp_path / "b"), env=env)
    assert second.returncode == 0, second.stderr
    assert (tmp_path / "b" / "drivers/block/xen-blkfront.c").read_text().startswith(
        "/* from the sources folder */")
    assert not (tmp_path / "b" / "lib").exists()


@needs_source(OLDEST)
def test_a_build_folder_inside_a_git_work_tree_gets_every_file_of_every_patch(tmp_path):
    """git apply in a subfolder of a work tree skips paths outside it: not ours."""
    patches = small_series(tmp_path)
    repo = tmp_path / "checkout"
    (repo / "build").mkdir(parents=True)
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    out = repo / "build" / OLDEST / "abi"
    proc = kbuild("--series", OLDEST, "--patch-dir", str(patches), "--build-dir", str(out),
                  "--extract-only", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    for f in ("drivers/block/xen-blkfront.c", "include/xen/interface/io/blkif.h"):
        assert (out / f).read_text().startswith("/* xen-dix was here */\n"), f


@needs_source(OLDEST)
def test_a_patch_that_git_apply_reports_applied_but_did_not_apply_stops_the_build(tmp_path):
    """Never trust a silent apply: a git that says yes and writes nothing."""
    patches = small_series(tmp_path)
    real = shutil.which("git")
    fake = tmp_path / "bin" / "git"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\n"
                    'case " $* " in *" --numstat "*) exec %s "$@" ;; esac\n'
                    "exit 0\n" % real)
    fake.chmod(0o755)
    env = {**kmod.kbuild_env(), "PATH": f"{fake.parent}:{os.environ['PATH']}"}
    proc = kbuild("--series", OLDEST, "--patch-dir", str(patches), "--build-dir",
                  str(tmp_path / "b"), "--extract-only", env=env)
    assert proc.returncode != 0
    assert ("xendix-kbuild: patch 0001-two-files.patch did not change "
            "drivers/block/xen-blkfront.c although git apply succeeded") in proc.stderr


@needs_source(OLDEST)
def test_a_patch_folder_that_does_not_exist_is_refused_not_built_stock(tmp_path):
    proc = kbuild("--series", OLDEST, "--patch-dir", str(tmp_path / "typo"),
                  "--build-dir", str(tmp_path / "b"))
    assert proc.returncode != 0
    assert proc.stderr.strip() == f"xendix-kbuild: patch folder {tmp_path / 'typo'} does not exist"


def test_the_build_and_the_lab_read_the_same_series_conf():
    """kmod/xendix-kbuild (bash) and lab/host/series.py (tomllib) agree on
    every series' packages."""
    listed = kbuild("--print-packages").stdout.split("\n")
    assert [line.split() for line in listed if line] == \
        [[kseries.load(s).source, kseries.load(s).headers] for s in SERIES]
    assert kbuild("--list-series").stdout.split() == SERIES


def test_a_new_series_is_one_folder(tmp_path, monkeypatch):
    """A third kernel series needs patches/<series>/series.conf and its
    patches, and no code change: the build, ./run's package list and the
    lab's parametrisation all find it."""
    repo = tmp_path / "repo"
    shutil.copytree(kmod.REPO / "kmod", repo / "kmod")
    shutil.copytree(kmod.REPO / "patches" / OLDEST, repo / "patches" / OLDEST)
    new = repo / "patches" / "6.16"
    new.mkdir()
    (new / "series.conf").write_text('source = "linux-source-6.16"\n'
                                     'headers = "linux-headers-6.16-amd64"  # a comment\n')
    (new / "0001-a.patch").write_text("")
    (new / "0000-cover-letter.patch").write_text("")
    script = repo / "kmod" / "xendix-kbuild"
    run = lambda *a: subprocess.run([str(script), *a], capture_output=True, text=True)  # noqa: E731
    assert run("--list-series").stdout.split() == [OLDEST, "6.16"]
    assert "linux-source-6.16 linux-headers-6.16-amd64" in run("--print-packages").stdout
    assert run("--series", "6.16", "--list-patches").stdout.split() == [str(new / "0001-a.patch")]
    monkeypatch.setattr(kseries, "PATCHES", repo / "patches")
    assert kseries.names() == [OLDEST, "6.16"]
    assert kseries.load("6.16").headers == "linux-headers-6.16-amd64"
