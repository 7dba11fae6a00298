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
])
def test_verdict(kw, verdict):
    assert judge(facts(**kw))[0] == verdict


def test_every_verdict_is_reachable_and_documented():
    cases = [facts(), facts(advertised="0", admin_enabled=False), facts(advertised="0", disk_known=False),
             facts(negotiated=None), facts(advertised=None), facts(backend_state=6),
             facts(advertised="0"), facts(confirmed_format=None)]
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
