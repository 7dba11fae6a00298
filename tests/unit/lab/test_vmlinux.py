"""The ELF kernel taken out of a bzImage, so that Xen and xl load it
without decompressing under TCG (lab/host/vmlinux.py)."""

from __future__ import annotations

import bz2
import gzip
import lzma
import shutil
import struct
import subprocess

import pytest

from lab.host import vmlinux



def elf(payload: bytes) -> bytes:
    """A 64-bit ELF with one program header covering the whole file."""
    size = 64 + 56 + len(payload)
    header = (b"\x7fELF\x02\x01\x01" + bytes(9) + struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0, 64, 0,
                                                               0, 64, 56, 1, 0, 0, 0))
    phdr = struct.pack("<IIQQQQQQ", 1, 5, 0, 0, 0, size, size, 0x1000)
    return header + phdr + payload


ELF = elf(bytes(range(256)) * 64)
SETUP = b"MZ" + b"\x00" * 1000 + b"HdrS"  # what comes before the payload


@pytest.mark.parametrize("compress", [lambda d: lzma.compress(d, format=lzma.FORMAT_XZ),
                                      gzip.compress, bz2.compress], ids=["xz", "gzip", "bzip2"])
def test_the_payload_of_a_bzimage_decompresses_to_its_elf(compress):
    assert vmlinux.extract_elf(SETUP + compress(ELF) + b"\x00trailer") == ELF


def test_a_magic_inside_other_bytes_is_skipped_for_the_real_payload():
    # XZ's magic also turns up by chance; only a stream that gives an ELF counts.
    decoy = b"\xfd7zXZ\x00 not a stream"
    assert vmlinux.extract_elf(SETUP + decoy + lzma.compress(ELF, format=lzma.FORMAT_XZ)) == ELF


@pytest.mark.skipif(shutil.which("zstd") is None, reason="the zstd command is not installed")
def test_a_zstd_payload_6_12s_goes_through_the_zstd_command():
    frame = subprocess.run(["zstd", "-cq"], input=ELF, capture_output=True, check=True).stdout
    assert vmlinux.extract_elf(SETUP + frame + b"\x00trailer") == ELF


def test_what_is_not_a_whole_elf_gives_none():
    assert vmlinux.extract_elf(SETUP + b"\x28\xb5\x2f\xfd" + b"\x01" * 64) is None
    assert vmlinux.extract_elf(SETUP + lzma.compress(b"not an elf", format=lzma.FORMAT_XZ)) is None
    # Cut short: the program header says more than there is.
    assert vmlinux.extract_elf(SETUP + lzma.compress(ELF[:-10], format=lzma.FORMAT_XZ)) is None


def test_the_elf_is_extracted_once_and_an_unreadable_kernel_is_used_as_it_is(tmp_path, monkeypatch):
    monkeypatch.setenv("XENDIX_LAB_CACHE", str(tmp_path / "cache"))
    xz = tmp_path / "vmlinuz-6.1.0-1-amd64"
    xz.write_bytes(SETUP + lzma.compress(ELF, format=lzma.FORMAT_XZ))
    elf = vmlinux.elf_kernel(xz)
    assert elf != xz and elf.read_bytes() == ELF
    assert elf.is_relative_to(tmp_path / "cache" / "vmlinux")
    elf.write_bytes(ELF + b"cached")  # the next call does not extract again
    assert vmlinux.elf_kernel(xz).read_bytes() == ELF + b"cached"
    lz4 = tmp_path / "vmlinuz-6.12.1-amd64"
    lz4.write_bytes(SETUP + b"\x02\x21\x4c\x18" + b"\x01" * 64)
    assert vmlinux.elf_kernel(lz4) == lz4
