"""Virtual disk names <-> xenstore devids (Xen's vbd-interface.txt)."""

import pytest

from xendix import digits, vdev


@pytest.mark.parametrize("name, devid", [
    ("xvda", 51712),
    ("xvdb", 51728),  # (202 << 8) | (1 << 4)
    ("xvdb1", 51729),
    ("xvdp15", (202 << 8) | (15 << 4) | 15),
    ("xvdq", (1 << 28) | (16 << 8)),  # the 17th disk needs the extended scheme
    ("xvdz", (1 << 28) | (25 << 8)),
    ("xvdaa", (1 << 28) | (26 << 8)),
    ("xvdaa3", (1 << 28) | (26 << 8) | 3),
    ("xvdb16", (1 << 28) | (1 << 8) | 16),  # so does partition 16
    ("hda", 3 << 8),
    ("hdb", (3 << 8) | 64),
    ("hdc1", (22 << 8) | 1),
    ("hdd", (22 << 8) | 64),
    ("sda", 8 << 8),
    ("sdb2", (8 << 8) | 16 | 2),
    ("sdq", 65 << 8),  # disks 16-31 are on major 65
    ("sdbm", 68 << 8),  # disk 64: the fifth SCSI major
])
def test_name_and_devid_map_both_ways(name, devid):
    assert vdev.parse(name).devid == devid
    assert vdev.decode(devid).name == name


def test_sd_disks_past_127_use_majors_128_to_135():
    d = vdev.Vdev("sd", 128)
    assert d.devid == 128 << 8
    assert vdev.decode(128 << 8) == d


def test_the_dNpM_form_is_xvd_numbering():
    assert vdev.to_devid("d1") == 51728
    assert vdev.to_devid("d26p3") == vdev.to_devid("xvdaa3")


def test_a_decimal_devid_is_accepted_as_is():
    assert vdev.to_devid("51728") == 51728


@pytest.mark.parametrize("bad", ["xvd", "xvdB", "vda", "xvdb0", "xvdb01", "sda16", "hda64",
                                 "hde9999", "xvdb256", "12", "", "d1p"])
def test_nonsense_is_refused(bad):
    with pytest.raises(vdev.VdevError):
        vdev.to_devid(bad)


@pytest.mark.parametrize("bad", ["５１７２８", "٥١٧٢٨", "51728\n", " 51728", "51_728", "xvdb１", "xvdb\n",
                                 "d１", "d1p２", "²"])
def test_only_ascii_digits_are_numbers(bad):
    """int() and \\d take ４ (full-width), ٤ (Arabic-Indic) and more; a devid does not."""
    with pytest.raises(vdev.VdevError):
        vdev.to_devid(bad)


def test_a_devid_in_other_digits_says_why():
    with pytest.raises(vdev.VdevError, match="devid '５１７２８' is not in ASCII digits"):
        vdev.to_devid("５１７２８")


@pytest.mark.parametrize("text, number", [("0", 0), ("51728", 51728), ("007", 7), ("４", None),
                                          ("٤", None), (" 4", None), ("4\n", None), ("4_0", None),
                                          ("", None), ("-1", None), ("+1", None)])
def test_decimal_is_ascii_digits_and_nothing_else(text, number):
    assert digits.decimal(text) == number


@pytest.mark.parametrize("text, number", [("10", 10.0), ("0.5", 0.5), (".5", 0.5), ("2.", 2.0),
                                          ("nan", None), ("inf", None), ("1e3", None), ("１０", None),
                                          ("-1", None), ("", None), (".", None)])
def test_seconds_are_finite_ascii_decimals(text, number):
    assert digits.seconds(text) == number


def test_letters_are_bijective_base_26():
    for n in (0, 25, 26, 27, 51, 52, 701, 702):
        assert vdev.letters_disk(vdev.disk_letters(n)) == n
    assert vdev.disk_letters(701) == "zz" and vdev.disk_letters(702) == "aaa"


def test_name_of_an_unknown_devid_is_the_number():
    assert vdev.name_of(51728) == "xvdb"
    assert vdev.name_of(12) == "12"
