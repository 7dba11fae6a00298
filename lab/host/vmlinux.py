"""The ELF kernel inside a Debian bzImage, so that neither Xen (dom0) nor
xl (each domU) decompresses it under TCG: XZ took 4 to 6 s of every 6.1
domU's build in dom0, and a few seconds of every boot in Xen.  6.1's
payload is XZ (Python's lzma), 6.12's zstd (the zstd command)."""

from __future__ import annotations

import bz2
import lzma
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Callable

from .cache import cache_root

ELF_MAGIC = b"\x7fELF"


def _xz(data: bytes) -> bytes:
    return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data)


def _gzip(data: bytes) -> bytes:
    return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data)


def _bzip2(data: bytes) -> bytes:
    return bz2.BZ2Decompressor().decompress(data)


def _zstd(data: bytes) -> bytes:
    """The first frame; zstd then fails on the bzImage's trailing bytes,
    which is why the output is judged by :func:`complete_elf`, not rc."""
    if shutil.which("zstd") is None:
        return b""
    return subprocess.run(["zstd", "-dcq"], input=data, capture_output=True, timeout=120).stdout


# The payload formats, by their magic.  A bzImage of another one (lz4,
# lzo), or zstd without the zstd command, is used as it is.
DECOMPRESSORS: tuple[tuple[bytes, Callable[[bytes], bytes]], ...] = (
    (b"\xfd7zXZ\x00", _xz),
    (b"\x28\xb5\x2f\xfd", _zstd),
    (b"\x1f\x8b\x08", _gzip),
    (b"BZh", _bzip2),
)


def complete_elf(image: bytes) -> bool:
    """A 64-bit ELF whose program headers' file contents are all there."""
    if len(image) < 64 or not image.startswith(ELF_MAGIC) or image[4] != 2:
        return False
    phoff, = struct.unpack_from("<Q", image, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", image, 0x36)
    if phnum == 0 or phentsize < 56 or phoff + phnum * phentsize > len(image):
        return False
    for i in range(phnum):
        offset, _vaddr, _paddr, filesz = struct.unpack_from("<QQQQ", image, phoff + i * phentsize + 8)
        if offset + filesz > len(image):
            return False
    return True


def extract_elf(bzimage: bytes) -> bytes | None:
    """The whole ELF image a bzImage's payload decompresses to, or None."""
    for magic, decompress in DECOMPRESSORS:
        start = bzimage.find(magic)
        while start >= 0:
            try:
                out = decompress(bzimage[start:])
            except (lzma.LZMAError, zlib.error, OSError, EOFError, ValueError,
                    subprocess.TimeoutExpired):
                out = b""
            if complete_elf(out):
                return out
            start = bzimage.find(magic, start + 1)
    return None


def elf_kernel(vmlinuz: Path) -> Path:
    """``vmlinuz``'s ELF kernel, extracted once into the cache; ``vmlinuz``
    itself when its payload cannot be read here."""
    st = vmlinuz.stat()
    out = cache_root() / "vmlinux" / f"{vmlinuz.name}-{st.st_size}-{int(st.st_mtime)}"
    if out.exists():
        return out
    elf = extract_elf(vmlinuz.read_bytes())
    if elf is None:
        return vmlinuz
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.name}.tmp{os.getpid()}")
    tmp.write_bytes(elf)
    tmp.replace(out)
    return out

