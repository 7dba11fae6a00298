"""The ELF kernel taken out of a bzImage, so that Xen and xl load it
without decompressing under TCG (lab/host/vmlinux.py)."""

from __future__ import annotations

import bz2
import gzip
import lzma

import pytest

from lab.host import vmlinux

ELF = b"\x7fELF\x02\x01\x01" + bytes(range(256)) * 64
SETUP = b"MZ" + b"\x00" * 1000 + b"HdrS"  # what comes before the payload


@pytest.mark.parametrize("compress", [lambda d: lzma.compress(d, format=lzma.FORMAT_XZ),
                                      gzip.compress, bz2.compress], ids=["xz", "gzip", "bzip2"])
def test_the_payload_of_a_bzimage_decompresses_to_its_elf(compress):
    assert vmlinux.extract_elf(SETUP + compress(ELF) + b"\x00trailer") == ELF


def test_a_magic_inside_other_bytes_is_skipped_for_the_real_payload():
    # XZ's magic also turns up by chance; only a stream that gives an ELF counts.
    decoy = b"\xfd7zXZ\x00 not a stream"
    assert vmlinux.extract_elf(SETUP + decoy + lzma.compress(ELF, format=lzma.FORMAT_XZ)) == ELF


def test_a_payload_python_cannot_read_gives_none():
    zstd_frame = b"\x28\xb5\x2f\xfd" + b"\x01" * 64  # 6.12's bzImages are zstd
    assert vmlinux.extract_elf(SETUP + zstd_frame) is None
    assert vmlinux.extract_elf(SETUP + lzma.compress(b"not an elf", format=lzma.FORMAT_XZ)) is None


def test_the_elf_is_extracted_once_and_an_unreadable_kernel_is_used_as_it_is(tmp_path, monkeypatch):
    monkeypatch.setenv("XENDIX_LAB_CACHE", str(tmp_path / "cache"))
    xz = tmp_path / "vmlinuz-6.1.0-1-amd64"
    xz.write_bytes(SETUP + lzma.compress(ELF, format=lzma.FORMAT_XZ))
    elf = vmlinux.elf_kernel(xz)
    assert elf != xz and elf.read_bytes() == ELF
    assert elf.is_relative_to(tmp_path / "cache" / "vmlinux")
    elf.write_bytes(ELF + b"cached")  # the next call does not extract again
    assert vmlinux.elf_kernel(xz).read_bytes() == ELF + b"cached"
    zstd = tmp_path / "vmlinuz-6.12.1-amd64"
    zstd.write_bytes(SETUP + b"\x28\xb5\x2f\xfd" + b"\x01" * 64)
    assert vmlinux.elf_kernel(zstd) == zstd
