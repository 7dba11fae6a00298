"""xendix status: "protected" means the frontend confirmed the backend's
profile by writing it back as its own data-integrity-format.  That node is
written by the guest: any bytes, any length, shown only escaped and capped."""

import json

import pytest

from xendix.xenstore import PyxsStore

from .test_status import run

FE = "/local/domain/1/device/vbd/51728"


def status_json(host) -> dict:
    r = run(host, "status", "--json")
    assert r.exit_code == 0, r.output
    (v,) = json.loads(r.output)["vbds"]
    return v


def test_protected_when_the_frontend_wrote_back_the_backends_format(host, store):
    store.add_vbd(1, 51728, "xvdb", confirmed="T10-DIF-TYPE1-CRC")
    v = status_json(host)
    assert v["verdict"] == "protected"
    assert v["frontend"]["confirmed_format"] == "T10-DIF-TYPE1-CRC" and v["frontend"]["confirmed"] is True


def test_unconfirmed_when_the_frontend_opted_in_but_registered_nothing(host, store):
    store.add_vbd(1, 51728, "xvdb", confirmed=None)
    v = status_json(host)
    assert v["verdict"] == "unconfirmed"
    assert v["reason"] == "the frontend opted in but registered no profile (no data-integrity-format)"
    assert v["frontend"]["confirmed_format"] is None and v["frontend"]["confirmed"] is False


def test_unconfirmed_when_the_frontend_registered_a_different_format(host, store):
    store.add_vbd(1, 51728, "xvdb", confirmed="T10-DIF-TYPE3-IP")
    v = status_json(host)
    assert v["verdict"] == "unconfirmed"
    assert "different format: 'T10-DIF-TYPE3-IP', the backend offered 'T10-DIF-TYPE1-CRC'" in v["reason"]
    assert v["frontend"]["confirmed_format"] == "T10-DIF-TYPE3-IP" and v["frontend"]["confirmed"] is False


def test_the_table_says_unconfirmed_and_why(host, store):
    store.add_vbd(1, 51728, "xvdb", confirmed=None)
    row = run(host, "status", "-o", "+why").output.splitlines()[1]
    assert "unconfirmed" in row.split()
    assert row.endswith("the frontend opted in but registered no profile (no data-integrity-format)")


HOSTILE = {
    "escape sequence": ("\x1b[2J\x1b]0;owned\x07T10-DIF-TYPE1-CRC",
                        "\\x1b[2J\\x1b]0;owned\\x07T10-DIF-TYPE1-CRC"),
    "control characters": ("T10\r\nDIF\x00\x08", "T10\\r\\nDIF\\x00\\x08"),
    "invalid UTF-8": (b"T10-\xff\xfe\xc3(".decode("utf-8", "surrogateescape"), "T10-\\xff\\xfe\\xc3("),
    "10 KiB": ("T" * 10240, "T" * 64 + "... (10240 bytes)"),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_bytes_are_shown_escaped_and_capped_and_nothing_crashes(host, store, name):
    raw, shown = HOSTILE[name]
    store.add_vbd(1, 51728, "xvdb", confirmed=raw)
    v = status_json(host)
    assert v["verdict"] == "unconfirmed"
    assert v["frontend"]["confirmed_format"] == shown
    assert f"different format: '{shown}', the backend offered" in v["reason"]
    assert len(v["reason"]) < 200
    for args in (["status"], ["status", "--json"]):
        out = run(host, *args).output
        assert out.isascii(), args
        assert all(c.isprintable() or c == "\n" for c in out), args
        assert raw not in out


def test_a_hostile_frontend_state_or_opt_in_does_not_crash_status(host, store):
    store.add_vbd(1, 51728, "xvdb", negotiated="\x1b]0;owned\x07\r1")
    store.nodes[f"{FE}/state"] = "9" * 5000  # int() refuses over 4300 digits
    v = status_json(host)
    assert v["verdict"] == "not-connected" and v["frontend"]["state"] is None
    assert v["frontend"]["feature_data_integrity"] == "\\x1b]0;owned\\x07\\r1"
    store.nodes[f"{FE}/state"] = "\u0664"  # ARABIC-INDIC DIGIT FOUR: isdigit(), not a state
    assert status_json(host)["frontend"]["state"] is None
    out = run(host, "status").output  # click strips only CSI sequences, not these
    assert "\x1b" not in out and "\x07" not in out and "\r" not in out


class BytesClient:
    """A pyxs client whose read answers what a guest wrote."""

    def __init__(self, value: bytes) -> None:
        self.value = value

    def read(self, path: bytes) -> bytes:
        return self.value


def test_the_xenstore_client_reads_any_bytes_without_crashing():
    import pyxs

    store = PyxsStore.__new__(PyxsStore)
    store._pyxs, store.path = pyxs, "socket"
    store.client = BytesClient(b"T10-\xff\xfe\xc3(")
    value = store.read(f"{FE}/data-integrity-format")
    assert value.encode("utf-8", "surrogateescape") == b"T10-\xff\xfe\xc3("
