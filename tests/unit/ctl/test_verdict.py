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
             facts(advertised="0"), facts(confirmed_format=None), facts(backend_type="qdisk")]
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
    assert offered == ("protected" if kernel_on else "unsupported-disk")


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
