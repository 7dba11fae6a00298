"""The admin toggle means what blkback makes of it, not what it looks like.

blkback decides with ``xenbus_read_unsigned(dir, "data-integrity-enable", 1)``
(drivers/xen/xenbus/xenbus_xs.c, Linux 6.1 and 6.12 alike): xenbus_scanf(...,
"%u") on the node read as a C string, and the default when it scans nothing.
The kernel's vsscanf("%u") (lib/vsprintf.c) skips isspace() bytes (lib/ctype.c:
\\t \\n \\v \\f \\r, space and 0xa0), takes no sign, then needs one ASCII digit,
reads base 10 up to the first other byte (no "0x": base 10 strips no prefix),
wraps in 64 bits and stores 32.  Non-zero: blkback may advertise DIX.
"""

import json

import pytest

from xendix.toggle import admin_enabled, xenbus_unsigned

from .test_status import run

ABSENT = None
GUEST = "utf-8", "surrogateescape"  # how the xenstore layer hands over bytes that are not UTF-8

# value in the node -> what xenbus_read_unsigned(dir, node, 1) returns
KERNEL = [
    (ABSENT, 1),           # no node: xenbus_read fails, the default
    ("", 1),               # nothing to scan (vsscanf stops at the NUL): the default
    ("0", 0),
    ("1", 1),
    ("00", 0),             # base 10: leading zeros are digits
    ("0x0", 0),            # 0, then "x" ends the number
    ("0x1", 0),            # still 0: "%u" is not "%i", no hex prefix
    (" 1", 1),             # leading white space skipped
    (" 0", 0),
    ("\t\n\x0b\x0c\r0", 0),  # every isspace() byte of the kernel's ctype table
    (b"\xa00".decode(*GUEST), 0),  # the byte 0xa0 is white space to the kernel (Latin-1 NBSP)
    ("\u00a00", 1),        # but NBSP in UTF-8 is c2 a0, and 0xc2 is not: the default
    ("   ", 1),            # white space only: no digit, the default
    ("1abc", 1),           # trailing bytes ignored
    ("0abc", 0),
    ("0 1", 0),
    ("-1", 1),             # "%u" takes no sign: no digit, the default
    ("-0", 1),
    ("+0", 1),
    ("off", 1),            # words are no digits: the default, ON
    ("false", 1),
    ("4294967295", 4294967295),
    ("4294967296", 0),     # 2**32 wraps to 0: OFF
    ("4294967297", 1),
    ("18446744073709551616", 0),  # 2**64: wrapped in 64 bits, then 32
    ("1" + "0" * 4999, 0),  # 10**4999 is a multiple of 2**32 (Python's int() refuses 4300+ digits)
    ("\u0660", 1),         # ARABIC-INDIC DIGIT ZERO: not an ASCII digit, the default
    ("\uff10", 1),         # FULLWIDTH DIGIT ZERO: likewise
    ("\x000", 1),          # the C string is empty
    ("0\x001", 0),         # the C string is "0"
    (b"\xff".decode(*GUEST), 1),   # a byte that is no digit: the default
    (b"\xff0".decode(*GUEST), 1),
    (b"0\xff".decode(*GUEST), 0),
    (b"1\xff".decode(*GUEST), 1),
]


@pytest.mark.parametrize("value, kernel", KERNEL)
def test_the_toggle_is_read_as_xenbus_read_unsigned_reads_it(value, kernel):
    assert xenbus_unsigned(value, 1) == kernel
    assert admin_enabled(value) is (kernel != 0)


def test_bytes_read_the_same_as_the_text_the_store_hands_over():
    for value, kernel in KERNEL:
        if value is not None:
            assert xenbus_unsigned(value.encode(*GUEST), 1) == kernel, repr(value)


def test_the_default_is_the_callers():
    """blkback reads the frontend's opt-in with default 0: absent is off there."""
    assert xenbus_unsigned(None, 0) == 0 and xenbus_unsigned("", 0) == 0
    assert xenbus_unsigned("x", 7) == 7 and xenbus_unsigned("3", 7) == 3


@pytest.mark.parametrize("value, on", [("", True), ("00", False), ("0x0", False), ("-1", True),
                                       ("off", True), ("4294967296", False)])
def test_status_says_what_blkback_will_do_with_the_toggle(host, store, value, on):
    store.add_vbd(1, 51728, "xvdb", params="/dev/ram1", phys="1:1", advertised="0", admin=value)
    (v,) = json.loads(run(host, "status", "--json").output)["vbds"]
    assert v["admin"] == {"data_integrity_enable": value, "enabled": on}
    assert v["verdict"] == ("unsupported-disk" if on else "off")
    row = run(host, "status", "-o", "vdev,admin,verdict").output.splitlines()[1]
    assert row.split() == ["xvdb", "on" if on else "off", "unsupported-disk" if on else "off"]
