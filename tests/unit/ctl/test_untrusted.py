"""Guest-written values are shown escaped, ASCII only and capped; never raw:
they are data, never terminal control or table layout, and one bad guest
never breaks another guest's row."""

import json

import pytest

from xendix.untrusted import CAP, PATH_CAP, show, show_optional

from .conftest import BE
from .test_status import run


def test_a_plain_format_name_is_shown_as_it_is():
    assert show("T10-DIF-TYPE1-CRC") == "T10-DIF-TYPE1-CRC"


@pytest.mark.parametrize("raw, shown", [
    ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),  # a terminal escape sequence
    ("\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"),  # a window title
    ("a\nb\rc\td\x00e\x7f", "a\\nb\\rc\\td\\x00e\\x7f"),
    ("back\\slash 'quote' \"dq\"", "back\\\\slash \\x27quote\\x27 \\x22dq\\x22"),
    ("\u202egnp.exe", "\\xe2\\x80\\xaegnp.exe"),  # right-to-left override, as its UTF-8 bytes
    (b"\xff\xfe\xc3(".decode("utf-8", "surrogateescape"), "\\xff\\xfe\\xc3("),  # invalid UTF-8
    (b"\xff\x00ok", "\\xff\\x00ok"),  # bytes as they are
    ("\ud800", "\\xed\\xa0\\x80"),  # a lone surrogate does not crash either
])
def test_control_and_non_ascii_bytes_are_escaped(raw, shown):
    assert show(raw) == shown


def test_every_byte_value_comes_out_as_printable_ascii():
    out = show(bytes(range(256)), cap=10_000)
    assert out.isascii() and out.isprintable()
    assert "'" not in out and '"' not in out


def test_a_10_kib_value_is_cut_at_the_cap_and_its_length_said():
    out = show("A" * 10240)
    assert out == "A" * CAP + "... (10240 bytes)"


def test_the_cap_counts_escaped_characters_and_never_splits_an_escape():
    out = show("\x01" * 100)
    body = out.split("...")[0]
    assert len(body) <= CAP and len(body) % 4 == 0 and body == "\\x01" * (len(body) // 4)
    assert out.endswith("... (100 bytes)")


def test_a_value_of_exactly_the_cap_is_not_cut():
    assert show("B" * CAP) == "B" * CAP


def test_an_absent_node_stays_absent():
    assert show_optional(None) is None and show_optional("") == ""


def test_a_path_has_a_longer_cap_than_a_name():
    path = "/dev/disk/by-id/nvme-Vendor_Model_1TB_S4EWNX0N123456A-part1-and-then-some"
    assert len(path) > CAP and show(path, PATH_CAP) == path
    assert show_optional("x" * 300, PATH_CAP) == "x" * PATH_CAP + "... (300 bytes)"


# -- through xendix status and devices -----------------------------------------------------

GUEST = "utf-8", "surrogateescape"  # how the xenstore layer hands over bytes that are not UTF-8
WIPE = "\x1b[2K\r... protected"  # erase the line, write over it
FE, DD_BE = "/local/domain/1/device/vbd/51728", "/local/domain/3/backend/vbd/1/51728"


def hostile_host(store):
    """Guest 1 ("web") is hostile: a name that is not UTF-8, line-wiping
    values in its frontend, and driver domain 3 serves its disk with hostile
    backend values.  Guest 2 ("db") is an honest protected disk in dom0."""
    store.add_domain(1, b"web\xff".decode(*GUEST) + WIPE)
    store.add_domain(2, "db")
    store.add_domain(3, "storage\x1b]0;owned\x07")
    store.add_vbd(2, 51728, "xvdb")
    store.add_vbd(1, 51728, "xvdb", negotiated=b"1\xff".decode(*GUEST), confirmed=WIPE)
    for node in [n for n in store.nodes if n.startswith(f"{BE}/1/51728/")]:
        store.nodes[DD_BE + node[len(f"{BE}/1/51728"):]] = store.nodes.pop(node)
    store.nodes.update({f"{FE}/backend": DD_BE, f"{DD_BE}/dev": "xvdb" + WIPE,
                        f"{DD_BE}/params": b"/dev/\xff\xfe".decode(*GUEST) + WIPE,
                        f"{DD_BE}/mode": "w\x00\x1b[31m", f"{DD_BE}/physical-device": "\x1b[8m8:0",
                        f"{DD_BE}/feature-data-integrity": "1" + WIPE,
                        f"{DD_BE}/data-integrity-format": "T10\x1b[5m", f"{DD_BE}/data-integrity-interval": "9" * 5000,
                        f"{DD_BE}/data-integrity-enable": b"0\xff".decode(*GUEST)})


def printable(text: str) -> bool:
    return text.isascii() and all(c.isprintable() or c == "\n" for c in text)


ALL = "domain,id,vdev,devid,backend,frontend,backing,profile,admin,adv,neg,verdict,why"


@pytest.mark.parametrize("args", [["status"], ["status", "-o", ALL], ["status", "--json"],
                                  ["status", "web" + b"\xff".decode(*GUEST) + WIPE, "--json"],
                                  ["devices"], ["devices", "--json"]])
def test_a_hostile_guest_and_driver_domain_reach_no_terminal_and_no_program(host, store, args):
    hostile_host(store)
    r = run(host, *args)
    assert r.exit_code == 0, (r.output, r.exception)
    assert printable(r.output), r.output
    assert "\x1b" not in r.output and "\r" not in r.output


def test_hostile_values_are_shown_escaped_in_the_json(host, store):
    hostile_host(store)
    web, db = json.loads(run(host, "status", "--json").output)["vbds"]
    assert web["domain"] == "web\\xff\\x1b[2K\\r... protected"
    assert web["vdev"] == "xvdb\\x1b[2K\\r... protected"
    assert web["backend"]["domain"] == "storage\\x1b]0;owned\\x07"
    assert web["backend"]["params"] == "/dev/\\xff\\xfe\\x1b[2K\\r... protected"
    assert (web["backend"]["mode"], web["backend"]["physical_device"]) == ("w\\x00\\x1b[31m", "\\x1b[8m8:0")
    assert web["backend"]["feature_data_integrity"] == "1\\x1b[2K\\r... protected"
    assert web["backend"]["profile"]["format"] == "T10\\x1b[5m"
    assert web["frontend"]["feature_data_integrity"] == "1\\xff"
    assert web["frontend"]["confirmed_format"] == "\\x1b[2K\\r... protected"
    assert web["admin"] == {"data_integrity_enable": "0\\xff", "enabled": False}
    assert web["verdict"] == "unconfirmed" and "'\\x1b[2K\\r... protected'" in web["reason"]
    assert (db["domain"], db["verdict"], db["backend"]["domid"]) == ("db", "protected", 0)


def test_one_hostile_guest_leaves_the_others_rows_as_they_are(host, store):
    store.add_domain(2, "db")
    store.add_vbd(2, 51728, "xvdb")
    honest = run(host, "status", "-o", ALL).output.splitlines()[1]
    hostile_host(store)
    rows = run(host, "status", "-o", ALL).output.splitlines()
    assert rows[2].split() == honest.split() and rows[2].startswith("db ")
    assert rows[1].split()[:2] == ["web\\xff\\x1b[2K\\r...", "protected"]  # the name, escaped, is data


def test_a_guest_that_wrote_1_and_a_bad_byte_opted_in_as_blkback_reads_it(host, store):
    """blkback reads "1\\xff" as 1 (xenbus_read_unsigned): the guest opted in."""
    store.add_vbd(1, 51728, "xvdb", negotiated=b"1\xff".decode(*GUEST), confirmed="T10-DIF-TYPE1-CRC")
    r = run(host, "status", "-o", "domain,vdev,neg,verdict")
    assert r.exit_code == 0 and r.output.splitlines()[1].split() == ["web", "xvdb", "1\\xff", "protected"]


def test_a_node_name_the_store_cannot_decode_hides_only_its_directory(host, store, monkeypatch):
    """A driver domain names the nodes under its backend directory; a store
    that decodes names strictly raises on a bad one."""
    store.add_domain(3, "storage")
    store.add_vbd(1, 51728, "xvdb")
    store.nodes["/local/domain/3/backend/vbd/1/51744/frontend"] = "/local/domain/1/device/vbd/51744"
    real = store.list

    def strict(path: str) -> list[str]:
        if path.startswith("/local/domain/3/backend"):
            raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")
        return real(path)

    monkeypatch.setattr(store, "list", strict)
    r = run(host, "status", "--json")
    assert r.exit_code == 0, r.output
    assert [v["vdev"] for v in json.loads(r.output)["vbds"]] == ["xvdb"]


@pytest.mark.parametrize("name", ["\u0664", "01", "1 ", "4" * 12])
def test_a_directory_that_is_no_domid_or_devid_is_no_disk(host, store, name):
    """Only ASCII decimal names, as xenstore writes ids: "\\u0664" (an
    Arabic-Indic 4) is not domain 4."""
    store.nodes[f"{BE}/{name}/51728/frontend"] = FE
    store.nodes[f"{BE}/1/{name}/frontend"] = FE
    assert json.loads(run(host, "status", "--json").output) == {"vbds": []}
