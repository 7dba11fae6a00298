"""Guest-written values are shown escaped, ASCII only and capped; never raw."""

import pytest

from xendix.untrusted import CAP, show, show_optional


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
