"""Errors that end a xendix command, each with its own exit code.

Every command checks in the same order and stops at the first failure,
before it changes anything:

1. the command line (2): every argument and option on its own (numbers
   are ASCII digits, seconds are finite, a VDEV is a disk name), then
   together (``--all`` or DOMAIN VDEV).  It needs nothing from the system,
   so a typo says the same everywhere and ``--help`` works for anyone.
2. root (3): everything after needs it, so this is the one answer to give.
3. dom0 (5): in a domU there is no dom0 backend to look at.
4. xenstored (4).
5. the policy file (7), for the commands that read one.
6. the targets (6): the domain and the vdev exist; a domain name that two
   domains have is refused here, as a command line that cannot be right (2).
7. the refusals (8): ``--now`` on a root disk or a disk not connected.
8. the work (1 if it fails); ``status --check`` ends with 9 when a disk the
   policy wants protected is not.

Ctrl-C ends any of them with 130.  A command that needs less of the system
(``udev install``) skips those steps and keeps this order.
"""

from __future__ import annotations

OK = 0
GENERIC = 1
USAGE = 2  # click's own code for a bad command line
NOT_ROOT = 3
NO_XENSTORE = 4
NOT_DOM0 = 5
UNKNOWN_TARGET = 6
BAD_POLICY = 7
REFUSED = 8
UNPROTECTED = 9
INTERRUPTED = 130  # 128 + SIGINT, as a shell reports it

EXIT_CODES: dict[int, str] = {
    OK: "success",
    GENERIC: "any other failure (xl failed, a wait ran out...)",
    USAGE: "bad command line (also: a domain name that two domains have)",
    NOT_ROOT: "not run as root",
    NO_XENSTORE: "xenstored is not reachable (socket missing or refusing)",
    NOT_DOM0: "not running in dom0 (/proc/xen/capabilities lacks control_d)",
    UNKNOWN_TARGET: "unknown domain or vdev",
    BAD_POLICY: "the policy file is missing or malformed",
    REFUSED: ("refused: --now on a root disk, on a disk that is not connected, or on a disk "
              "whose libxl config cannot be carried to xl block-attach"),
    UNPROTECTED: "status --check: a disk the policy wants protected is not",
    INTERRUPTED: "interrupted (Ctrl-C)",
}


class XendixError(Exception):
    """A failure the user is told about in one line; ``exit_code`` says which."""

    exit_code = GENERIC


class Usage(XendixError):
    """A command line that cannot be right, whatever the system holds."""

    exit_code = USAGE


class NotRoot(XendixError):
    exit_code = NOT_ROOT


class NoXenstore(XendixError):
    exit_code = NO_XENSTORE


class NotDom0(XendixError):
    exit_code = NOT_DOM0


class UnknownDomain(XendixError):
    exit_code = UNKNOWN_TARGET


class UnknownVdev(XendixError):
    exit_code = UNKNOWN_TARGET


class BadPolicy(XendixError):
    exit_code = BAD_POLICY


class Refused(XendixError):
    exit_code = REFUSED


class Unprotected(XendixError):
    """``status --check``: disks the policy wants protected are not."""

    exit_code = UNPROTECTED


def exit_codes_help() -> str:
    """The exit code table, for --help and the README."""
    return "\n".join(f"  {code:>3}  {what}" for code, what in EXIT_CODES.items())
