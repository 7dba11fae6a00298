"""The kernel series stay in step: a patch of patches/<series> makes the
same change as the patch of the same number in the oldest series, unless
it is listed below with the reason it must differ.  Compared are the
applied diffs: for each file a patch names, the lines it removes and
adds, in order; the blob ids, the hunk positions and the context lines
follow the kernel sources around the change, not the change."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lab.host import kmod
from lab.host import series as kseries

pytestmark = pytest.mark.kbuild

SERIES = kseries.names()
OLDEST = kseries.default()

# Patches that must differ between the series, by number, with the reason.
# A patch listed here that turns out identical fails the test: take it off.
MUST_DIFFER = {
    "0002": "6.12 defines blkif_get_x86_32_req() and blkif_get_x86_64_req() in "
            "blkback.c (6.1 in common.h), so xen_blkbk_get_request(), which calls "
            "them, goes after them there",
    "0003": "the DIX translation cases go where 6.12 has blkif_get_x86_*_req() "
            "(blkback.c, not common.h), and 6.12's vbd holds the backing device as "
            "a struct file (bdev_file) where 6.1 has a block_device",
    "0004": "6.12's blk_integrity has no profile name: blkback names the profile "
            "from csum_type and BLK_INTEGRITY_REF_TAG instead of matching "
            "profile->name; and the backing device is file_bdev(bdev_file)",
    "0005": "the same hunks in another order: 6.12's xen_blkbk_dix_get_pair() "
            "goes after blkif_get_x86_*_req() in blkback.c, after "
            "xen_blkbk_dix_check() (6.1: before it)",
    "0006": "the vbd's guard and reference tags come from 6.12's csum_type and "
            "BLK_INTEGRITY_REF_TAG (6.1: BLK_INTEGRITY_IP_CHECKSUM and the "
            "t10_pi_type1_* profiles)",
    "0007": "6.12's __assign_str() takes the field alone (6.1: the field and "
            "the source)",
    "0008": "6.1's fault_create_debugfs_attr() dget()s attr->dname, which "
            "xen_blkbk_fail_dix_del() must dput(); on 6.12 dname is a name",
    "0010": "6.12 sets the integrity profile in the queue_limits the disk is "
            "allocated with (6.1: blk_integrity_register()), and a reconnect that "
            "drops it sets BLK_INTEGRITY_NOVERIFY/NOGENERATE (6.1 clears "
            "BLK_INTEGRITY_VERIFY/GENERATE)",
    "0011": "6.12 advertises FUA through the queue limits' features "
            "(BLK_FEAT_FUA), 6.1 with blk_queue_write_cache(); the surrounding "
            "error path of blkif_queue_rq() differs",
    "0013": "6.12's __assign_str() takes the field alone (6.1: the field and "
            "the source), and 6.12 names the registered profile from "
            "info->dix_format (6.1: the profile's name)",
    "0014": "the same hunks in another order: 6.12's xen_blkbk_dix_get_pair() "
            "goes after blkif_get_x86_*_req() in blkback.c, after xen_blkbk_map() "
            "(6.1: before the DIX map helpers)",
    "0017": "6.12's blk_integrity has no profile pointer: xen_blkbk_dix_profile() "
            "copies its csum_type and pi_offset too and names the format from "
            "csum_type and BLK_INTEGRITY_REF_TAG, where 6.1 reads the profile "
            "pointer once and takes the name from blkback's own table by "
            "profile->name (and the IP checksum from BLK_INTEGRITY_IP_CHECKSUM); "
            "and the backing device is file_bdev(bdev_file)",
}


def patches(series: str) -> dict[str, Path]:
    """The patches of a series by number, the cover letter left out."""
    return {p.name[:4]: p for p in kmod.patch_files(series)}


def subject(patch: Path) -> str:
    m = re.search(r"^Subject: \[PATCH [^]]*\] (.*(?:\n .*)*)", patch.read_text(), re.M)
    assert m, patch
    return " ".join(m.group(1).split())


def applied_diff(patch: Path) -> list[str]:
    """The files a patch changes and the lines it removes and adds, in
    order: what it does, wherever the kernel has the code around it."""
    text = patch.read_text()
    start = text.index("\ndiff --git ") + 1
    end = text.rindex("\n-- \n")
    return [line for line in text[start:end].splitlines()
            if line.startswith(("diff --git ", "new file", "deleted file", "rename ",
                                "+", "-"))]


OTHERS = [s for s in SERIES if s != OLDEST]


@pytest.mark.parametrize("series", OTHERS)
def test_the_series_have_the_same_patches_with_the_same_subjects(series):
    ours, oldest = patches(series), patches(OLDEST)
    assert sorted(ours) == sorted(oldest)
    for n in oldest:
        assert subject(ours[n]) == subject(oldest[n]), n


@pytest.mark.parametrize("series", OTHERS)
def test_patches_shared_by_the_series_make_the_same_change(series):
    ours, oldest = patches(series), patches(OLDEST)
    drift = [n for n in sorted(oldest) if n in ours and n not in MUST_DIFFER
             and applied_diff(ours[n]) != applied_diff(oldest[n])]
    assert not drift, (f"patches/{series} and patches/{OLDEST} differ in {drift}: "
                       "make the same change in both, or list the patch in MUST_DIFFER "
                       "with the reason")


@pytest.mark.parametrize("series", OTHERS)
def test_every_patch_that_must_differ_does(series):
    ours, oldest = patches(series), patches(OLDEST)
    same = [n for n in sorted(MUST_DIFFER)
            if applied_diff(ours[n]) == applied_diff(oldest[n])]
    assert not same, f"{same} are identical now: take them off MUST_DIFFER"


def test_only_real_patches_are_allowed_to_differ():
    for n in MUST_DIFFER:
        assert n in patches(OLDEST), n
