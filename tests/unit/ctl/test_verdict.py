"""Every verdict, as a pure function of what dom0 sees."""

import pytest

from xendix.verdict import VERDICTS, Facts, judge


FMT = "T10-DIF-TYPE1-CRC"


def facts(**kw):
    base = dict(backend_state=4, frontend_state=4, advertised="1", negotiated="1",
                admin_enabled=True, disk_known=True, disk_seen=True,
                offered_format=FMT, confirmed_format=FMT)
    return Facts(**{**base, **kw})


@pytest.mark.parametrize("kw, verdict", [
    ({}, "protected"),
    ({"admin_enabled": False}, "protected"),  # still, until the next connect
    ({"advertised": "0", "admin_enabled": False}, "off"),
    ({"advertised": "0", "disk_known": False}, "unsupported-disk"),
    ({"advertised": "0", "disk_known": False, "disk_seen": False}, "unsupported-disk"),
    ({"advertised": "1", "negotiated": None}, "old-frontend"),
    ({"advertised": "1", "negotiated": "0"}, "old-frontend"),
    ({"advertised": None, "negotiated": "1"}, "old-backend"),
    ({"backend_state": 2}, "not-connected"),
    ({"frontend_state": None}, "not-connected"),
    ({"advertised": "0"}, "reconnect-needed"),
    ({"confirmed_format": None}, "unconfirmed"),
    ({"confirmed_format": "T10-DIF-TYPE3-IP"}, "unconfirmed"),
    ({"confirmed_format": None, "admin_enabled": False}, "unconfirmed"),
    ({"offered_format": None, "confirmed_format": None}, "unconfirmed"),
    ({"negotiated": None, "confirmed_format": None}, "old-frontend"),
    ({"backend_type": "qdisk"}, "unsupported-backend"),
    ({"backend_type": "vbd3", "backend_state": 2}, "unsupported-backend"),  # whatever its state
    ({"backend_domid": 3}, "protected"),  # blkback in a driver domain negotiates like dom0's
    ({"backend_domid": 3, "advertised": "0"}, "unsupported-disk"),
    ({"backend_domid": 3, "advertised": "0", "admin_enabled": False}, "off"),
])
def test_verdict(kw, verdict):
    assert judge(facts(**kw))[0] == verdict


def test_every_verdict_is_reachable_and_documented():
    cases = [facts(), facts(advertised="0", admin_enabled=False), facts(advertised="0", disk_known=False),
             facts(negotiated=None), facts(advertised=None), facts(backend_state=6),
             facts(advertised="0"), facts(confirmed_format=None), facts(backend_type="qdisk"),
             facts(disk_known=False, disk_format="none")]
    assert {judge(f)[0] for f in cases} == set(VERDICTS)


def test_off_wins_over_an_unsupported_disk():
    assert judge(facts(advertised="0", admin_enabled=False, disk_known=False))[0] == "off"


def test_a_pending_disable_is_said_in_the_reason():
    assert "next connect" in judge(facts(admin_enabled=False))[1]


def test_not_connected_says_both_states():
    assert judge(facts(backend_state=2, frontend_state=1))[1].startswith("backend state 2, frontend state 1")


def test_protected_only_when_the_frontend_confirmed_exactly_the_backends_format():
    assert judge(facts())[0] == "protected"
    assert "confirmed T10-DIF-TYPE1-CRC" in judge(facts())[1]
    for other in ("T10-DIF-TYPE1-IP", "t10-dif-type1-crc", FMT + " ", FMT + "\n", "", FMT[:-1]):
        assert judge(facts(confirmed_format=other))[0] == "unconfirmed", repr(other)


def test_a_frontend_that_registered_nothing_is_said_so():
    verdict, why = judge(facts(confirmed_format=None))
    assert verdict == "unconfirmed"
    assert why == "the frontend opted in but registered no profile (no data-integrity-format)"


def test_a_frontend_that_registered_another_format_is_said_so_with_both_formats():
    verdict, why = judge(facts(confirmed_format="T10-DIF-TYPE3-IP"))
    assert verdict == "unconfirmed"
    assert why == ("the frontend registered a different format: 'T10-DIF-TYPE3-IP', "
                   "the backend offered 'T10-DIF-TYPE1-CRC'")


def test_a_backend_without_a_format_confirms_nothing():
    """Equal absent formats are not a confirmation."""
    assert judge(facts(offered_format=None, confirmed_format=None))[0] == "unconfirmed"


@pytest.mark.parametrize("node, kernel_on", [
    ("1", True), ("01", True), (" 1", True), ("1\udcff", True), ("2", True),
    ("0", False), ("00", False), ("0x1", False), ("", False), ("-1", False), ("yes", False),
    ("\udcff1", False), ("4294967296", False),
])
def test_both_feature_nodes_are_read_as_the_kernel_reads_them(node, kernel_on):
    """blkback reads the frontend's opt-in, and blkfront the backend's offer,
    with xenbus_read_unsigned(..., 0): what counts is that reading, not the text."""
    opted_in = judge(facts(negotiated=node))[0]
    assert opted_in == ("protected" if kernel_on else "old-frontend")
    offered = judge(facts(advertised=node, disk_known=False))[0]
    assert offered == ("profile-changed" if kernel_on else "unsupported-disk")


@pytest.mark.parametrize("kind, why", [
    ("qdisk", "qdisk (QEMU) backend: no DIX support"),
    ("vbd3", "vbd3 (tapdisk3) backend: no DIX support"),
    ("tap", "tap (blktap) backend: no DIX support"),
    ("9pfs-blk", "9pfs-blk backend: no DIX support"),
])
def test_a_backend_other_than_blkback_is_unsupported_and_named(kind, why):
    assert judge(facts(backend_type=kind)) == ("unsupported-backend", why)
    assert judge(facts(backend_type=kind, backend_domid=3))[1] == why.replace(
        " backend:", " backend in domain 3:")


def test_a_driver_domains_disk_is_out_of_sight_and_said_so():
    verdict, why = judge(facts(backend_domid=3, advertised="0", disk_known=False, disk_seen=False))
    assert verdict == "unsupported-disk"
    assert why.startswith("blkback in domain 3 advertised no DIX with the toggle on")
    assert judge(facts(backend_domid=3, advertised=None))[1] == (
        "the backend in domain 3 did not write feature-data-integrity: stock blkback")


# -- the backing disk lost or changed the profile blkback advertised ----------------

def now(**kw):
    """A protected connection (xenstore's account) over a dom0 disk that has,
    as sysfs shows it now, ``kw`` (by default still the advertised profile)."""
    base = dict(offered_interval="512", disk_format=FMT, disk_interval=512)
    return facts(**{**base, **kw})


def test_a_disk_with_the_advertised_profile_is_still_protected():
    assert judge(now())[0] == "protected"
    assert judge(now(offered_interval=None, disk_interval=None))[0] == "protected"
    assert judge(now(disk_format=None, disk_interval=None))[0] == "protected"  # not read: no news


def test_a_disk_that_lost_its_profile_is_profile_changed_with_the_fix():
    verdict, why = judge(now(disk_known=False, disk_format="none", disk_interval=0))
    assert verdict == "profile-changed"
    assert why == ("the backing disk has no T10 profile now, blkback advertised "
                   "T10-DIF-TYPE1-CRC/512 at connect: every DIX read and write fails with EIO "
                   "until the vbd reconnects; re-attach it: xendix enable DOMAIN VDEV --now")


def test_a_disk_with_another_format_is_profile_changed_and_both_are_named():
    verdict, why = judge(now(disk_format="T10-DIF-TYPE3-IP", disk_interval=4096))
    assert verdict == "profile-changed"
    assert why.startswith("the backing disk's profile is T10-DIF-TYPE3-IP/4096 now, blkback "
                          "advertised T10-DIF-TYPE1-CRC/512 at connect: ")
    assert "EIO" in why and why.endswith("xendix enable DOMAIN VDEV --now")
    assert judge(now(disk_format="T10-DIF-TYPE1-IP"))[0] == "profile-changed"


def test_the_same_format_with_another_interval_is_profile_changed():
    verdict, why = judge(now(disk_interval=4096))
    assert verdict == "profile-changed"
    assert why.startswith("the backing disk's profile is T10-DIF-TYPE1-CRC/4096 now, blkback "
                          "advertised T10-DIF-TYPE1-CRC/512")
    assert judge(now(disk_interval=4096, offered_interval=None))[0] == "protected"  # nothing to compare
    assert judge(now(disk_interval=4096, offered_interval="0x200"))[0] == "protected"  # not a number


def test_a_non_t10_format_is_no_profile_and_shown_escaped():
    verdict, why = judge(now(disk_known=False, disk_format="nop\x1b[31m"))
    assert verdict == "profile-changed"
    assert why.startswith(r"the backing disk has no T10 profile now (its format is 'nop\x1b[31m'), ")
    assert "\x1b" not in why


def test_a_driver_domains_disk_keeps_its_verdict():
    """dom0 cannot see the disk of blkback in a driver domain: whatever a
    dom0 device of that number has, xenstore's account stands."""
    assert judge(now(backend_domid=3, disk_known=False, disk_format="none"))[0] == "protected"
    assert judge(now(backend_domid=3, disk_format="T10-DIF-TYPE3-IP"))[0] == "protected"


def test_a_disk_not_found_in_dom0_keeps_its_verdict():
    assert judge(now(disk_seen=False, disk_known=False, disk_format=None,
                     disk_interval=None))[0] == "protected"


@pytest.mark.parametrize("kw, verdict", [
    ({"backend_state": 5}, "not-connected"),
    ({"negotiated": "0"}, "old-frontend"),
    ({"confirmed_format": None}, "unconfirmed"),  # no pairs are sent: none fails
    ({"advertised": "0"}, "unsupported-disk"),  # advertised nothing: nothing to lose
    ({"advertised": "0", "admin_enabled": False}, "off"),
    ({"backend_type": "qdisk"}, "unsupported-backend"),
])
def test_a_lost_profile_only_matters_on_a_protected_connection(kw, verdict):
    assert judge(now(disk_known=False, disk_format="none", **kw))[0] == verdict


def test_a_pending_disable_is_no_cure_and_the_fix_keeps_the_toggle_off():
    verdict, why = judge(now(disk_known=False, disk_format="none", admin_enabled=False))
    assert verdict == "profile-changed"
    assert why.endswith("re-attach it: xendix disable DOMAIN VDEV --now (the toggle is 0)")
