"""The ELF kernel inside a Debian bzImage, so that neither Xen (dom0) nor
xl (each domU) decompresses it under TCG: XZ took 4 to 6 s of every 6.1
domU's build in dom0, and a few seconds of every boot in Xen."""

from __future__ import annotations

import bz2
import lzma
import os
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


# The payload formats Python's standard library can read, by their magic.
# A bzImage of another format (zstd, lz4: 6.12's is zstd) is used as it is.
DECOMPRESSORS: tuple[tuple[bytes, Callable[[bytes], bytes]], ...] = (
    (b"\xfd7zXZ\x00", _xz),
    (b"\x1f\x8b\x08", _gzip),
    (b"BZh", _bzip2),
)


def extract_elf(bzimage: bytes) -> bytes | None:
    """The ELF image a bzImage's payload decompresses to, or None when no
    standard-library decompressor finds one."""
    for magic, decompress in DECOMPRESSORS:
        start = bzimage.find(magic)
        while start >= 0:
            try:
                out = decompress(bzimage[start:])
            except (lzma.LZMAError, zlib.error, OSError, EOFError, ValueError):
                out = b""
            if out.startswith(ELF_MAGIC):
                return out
            start = bzimage.find(magic, start + 1)
    return None


def elf_kernel(vmlinuz: Path) -> Path:
    """``vmlinuz``'s ELF kernel, extracted once into the cache; ``vmlinuz``
    itself when its payload is not one Python reads."""
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

