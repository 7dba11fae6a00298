"""Every verdict, as a pure function of what dom0 sees."""

import pytest

from xendix.verdict import VERDICTS, Facts, judge


def facts(**kw):
    base = dict(backend_state=4, frontend_state=4, advertised="1", negotiated="1",
                admin_enabled=True, disk_known=True, disk_seen=True)
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
])
def test_verdict(kw, verdict):
    assert judge(facts(**kw))[0] == verdict


def test_every_verdict_is_reachable_and_documented():
    cases = [facts(), facts(advertised="0", admin_enabled=False), facts(advertised="0", disk_known=False),
             facts(negotiated=None), facts(advertised=None), facts(backend_state=6),
             facts(advertised="0")]
    assert {judge(f)[0] for f in cases} == set(VERDICTS)


def test_off_wins_over_an_unsupported_disk():
    assert judge(facts(advertised="0", admin_enabled=False, disk_known=False))[0] == "off"


def test_a_pending_disable_is_said_in_the_reason():
    assert "next connect" in judge(facts(admin_enabled=False))[1]


def test_not_connected_says_both_states():
    assert judge(facts(backend_state=2, frontend_state=1))[1].startswith("backend state 2, frontend state 1")
