"""The lab's images: dom0's root filesystem, dom0's and the domU's initramfs.

dom0's root filesystem is a minimal Debian 12 (mmdebstrap) with the Xen
4.17 toolstack, python3 and udev, plus Debian's modules for the kernel
ABI under test.  It is cached under a key made of the package versions and
this recipe, so a new upload or a recipe change rebuilds it and nothing
else does.  The initramfs images are small busybox ones built with cpio.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
from pathlib import Path

from . import debian
from .cache import cache_root, key
from .errors import ImageError

HERE = Path(__file__).resolve().parent

# What dom0 runs: the Xen toolstack, the control plane's dependencies (bcc
# for the probes among them), udev, sfdisk and dmsetup.  The kernel headers
# bcc compiles against are added by dom0_rootfs(), for the image's ABI.
DOM0_PACKAGES = (
    f"xen-utils-{debian.XEN}",
    "xenstore-utils",
    "python3",
    "python3-click",
    "python3-pyudev",
    "python3-pyxs",
    "python3-pyroute2",
    "python3-bpfcc",  # xendix top, snoop, dixlat
    "python3-prometheus-client",  # xendix exporter
    "udev",
    "kmod",
    "procps",
    "iproute2",
    "busybox",
    "fdisk",     # sfdisk: a partition as a vbd backing (scenario nvme)
    "dmsetup",   # a device-mapper linear volume as a vbd backing (scenario nvme)
    "sg3-utils",  # sg_raw: a WRITE without PI behind a DIX disk's back (scenario demo)
)
ROOM_MIB = 1536

# Modules dom0's initramfs loads to reach its root disk (QEMU's PIIX IDE).
DOM0_BOOT_MODULES = ("ata_piix", "sd_mod", "ext4")




def _run(argv: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, capture_output=True, text=True, **kw)  # type: ignore[call-overload]
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise ImageError(f"{argv[0]} failed ({proc.returncode}):\n{tail}")
    return proc


def apt_sources() -> list[str]:
    """The host's apt sources, handed to mmdebstrap as they are."""
    out = []
    main = Path("/etc/apt/sources.list")
    if main.exists() and any(l.strip() and not l.lstrip().startswith("#")
                             for l in main.read_text().splitlines()):
        out.append(str(main))
    d = Path("/etc/apt/sources.list.d")
    out += sorted(str(p) for p in d.glob("*.sources")) + sorted(str(p) for p in d.glob("*.list"))
    if not out:
        raise ImageError("no apt sources configured on this host")
    return out


def module_load_order(tree: Path, abi: str, names: tuple[str, ...]) -> list[Path]:
    """Debian modules (with dependencies, in load order) for ``names``."""
    order: list[Path] = []
    for name in names:
        proc = _run(["modprobe", "-d", str(tree), "-S", abi, "--show-depends", name])
        for line in proc.stdout.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "insmod":
                p = Path(parts[1])
                if p not in order:
                    order.append(p)
    return order


def write_cpio(staging: Path, out: Path) -> Path:
    """Pack ``staging`` as a gzipped newc cpio archive (an initramfs)."""
    files = _run(["find", ".", "-print0"], cwd=staging).stdout
    proc = subprocess.run(["cpio", "--null", "-o", "-H", "newc", "--quiet", "-R", "0:0"],
                          input=files.encode(), cwd=staging, capture_output=True)
    if proc.returncode != 0:
        raise ImageError(f"cpio failed: {proc.stderr.decode().strip()}")
    tmp = out.with_name(out.name + ".tmp")
    with gzip.open(tmp, "wb", compresslevel=3) as f:
        f.write(proc.stdout)
    tmp.rename(out)
    return out


def busybox() -> Path:
    """Debian's static busybox binary."""
    package = "busybox-static"
    version = debian.candidate_version(package)
    root = cache_root() / "busybox" / debian.deb_filename_version(version)
    binary = root / "bin" / "busybox"
    if not binary.exists():
        debian.extract(debian.download(package, version), root)
    return binary


def add_busybox(staging: Path) -> None:
    """Install busybox with its applet links into an initramfs tree."""
    for d in ("bin", "sbin", "dev", "proc", "sys", "tmp", "mnt", "run"):
        (staging / d).mkdir(exist_ok=True)
    bb = staging / "bin" / "busybox"
    shutil.copy2(busybox(), bb)
    for applet in _run([str(bb), "--list"]).stdout.split():
        link = staging / "bin" / applet
        if not link.exists():
            link.symlink_to("busybox")


def add_modules(staging: Path, modules: list[Path]) -> None:
    """Copy modules flat into /lib/modules and list them, in order, in
    /lib/modules/load-order for the init script."""
    mod_dir = staging / "lib" / "modules"
    mod_dir.mkdir(parents=True, exist_ok=True)
    names = []
    for m in modules:
        shutil.copy2(m, mod_dir / m.name)
        names.append(m.name)
    (mod_dir / "load-order").write_text("".join(n + "\n" for n in names))


def dom0_initramfs(abi: str) -> Path:
    """A busybox initramfs that mounts the lab's root disk, unpacks the
    job disk into it and hands over to the job's dom0 init."""
    tree = debian.kernel_tree(abi)
    init = HERE.parent / "dom0" / "dom0-initramfs-init"
    k = key(abi, tree.name, init, debian.candidate_version("busybox-static"), *DOM0_BOOT_MODULES)
    out = cache_root() / "images" / f"dom0-initrd-{abi}-{k}.cpio.gz"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = cache_root() / "images" / "staging-dom0-initrd"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    add_busybox(staging)
    add_modules(staging, module_load_order(tree, abi, DOM0_BOOT_MODULES))
    shutil.copy2(init, staging / "init")
    (staging / "init").chmod(0o755)
    write_cpio(staging, out)
    shutil.rmtree(staging)
    return out


def headers_packages(abi: str) -> tuple[str, str]:
    """Debian's kernel headers for ``abi``: the flavour's and the common ones
    (linux-headers-6.1.0-56-amd64 and linux-headers-6.1.0-56-common)."""
    flavour = abi.rsplit("-", 1)[0]
    return f"linux-headers-{abi}", f"linux-headers-{flavour}-common"


def dom0_package_versions(abi: str) -> dict[str, str]:
    """Candidate versions of the packages that define dom0's image."""
    return {p: debian.candidate_version(p) for p in (*DOM0_PACKAGES, *headers_packages(abi))}


def add_headers(root: Path, abi: str) -> None:
    """Unpack the kernel headers that bcc compiles against into ``root``
    (/usr/src/linux-headers-*, /lib/modules/<abi>/build).  Unpacked rather
    than installed: their packages depend on gcc and kbuild, which bcc does
    not use and the image need not carry.  Unpacked aside first: dpkg-deb
    would replace the image's /lib symlink (merged /usr) by a directory."""
    tmp = root.with_name(root.name + ".headers")
    shutil.rmtree(tmp, ignore_errors=True)
    for package in headers_packages(abi):
        debian.extract(debian.download(package), tmp)
    for d in (tmp / "usr" / "src").iterdir():
        shutil.copytree(d, root / "usr" / "src" / d.name, symlinks=True)
    links = tmp / "lib" / "modules" / abi
    for name in ("build", "source"):  # the flavour's headers and the common ones
        if not (links / name).is_symlink():
            raise ImageError(f"linux-headers for {abi} have no /lib/modules/{abi}/{name}")
        (root / "lib" / "modules" / abi / name).symlink_to((links / name).readlink())
    shutil.rmtree(tmp)


def dom0_rootfs(abi: str) -> Path:
    """dom0's root filesystem as an ext4 image (used with snapshot=on)."""
    tree = debian.kernel_tree(abi)
    versions = dom0_package_versions(abi)
    k = key(abi, tree.name, sorted(versions.items()), ROOM_MIB, Path(__file__))
    out = cache_root() / "images" / f"dom0-root-{abi}-{k}.ext4"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    root = cache_root() / "images" / "staging-dom0-root"
    shutil.rmtree(root, ignore_errors=True)
    _run(["mmdebstrap", "--mode=root", "--variant=minbase",
          "--include=" + ",".join(DOM0_PACKAGES), debian.SUITE, str(root), *apt_sources()])
    # Debian's modules for this ABI (scsi_debug, the Xen drivers, t10-pi).
    src = tree / "lib" / "modules" / abi
    shutil.copytree(src, root / "lib" / "modules" / abi, symlinks=True, dirs_exist_ok=True)
    _run(["depmod", "-b", str(root), abi])
    add_headers(root, abi)
    for d in ("lab", "var/log/xen/console", "var/lib/xen", "var/run/xen", "var/lib/xenstored"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "etc" / "hostname").write_text("dom0\n")
    used = int(_run(["du", "-sm", str(root)]).stdout.split()[0])
    size_mib = used + ROOM_MIB
    tmp = out.with_name(out.name + ".tmp")
    tmp.unlink(missing_ok=True)
    _run(["mkfs.ext4", "-q", "-F", "-L", "labroot", "-d", str(root), str(tmp), f"{size_mib}M"])
    tmp.rename(out)
    shutil.rmtree(root)
    return out


def domu_initramfs(abi: str, staging_extra: dict[str, Path], modules: list[Path], out: Path) -> Path:
    """The domU's busybox initramfs for one job: Debian's modules that our
    blkfront needs, the job's files (scripts, our blkfront builds, tools)."""
    staging = out.with_name(out.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    add_busybox(staging)
    add_modules(staging, modules)
    for dest, src in staging_extra.items():
        target = staging / dest
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, target, dirs_exist_ok=True)
        else:
            shutil.copy2(src, target)
    os.chmod(staging / "init", 0o755)
    write_cpio(staging, out)
    shutil.rmtree(staging)
    return out
