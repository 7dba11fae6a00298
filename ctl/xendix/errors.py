"""Errors that end a xendix command, each with its own exit code."""

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

EXIT_CODES: dict[int, str] = {
    OK: "success",
    GENERIC: "any other failure (xl failed, a wait ran out...)",
    USAGE: "bad command line",
    NOT_ROOT: "not run as root",
    NO_XENSTORE: "xenstored is not reachable (socket missing or refusing)",
    NOT_DOM0: "not running in dom0 (/proc/xen/capabilities lacks control_d)",
    UNKNOWN_TARGET: "unknown domain or vdev",
    BAD_POLICY: "the policy file is missing or malformed",
    REFUSED: "refused: --now on a root disk or on a disk that is not connected",
}


class XendixError(Exception):
    """A failure the user is told about in one line; ``exit_code`` says which."""

    exit_code = GENERIC


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


def exit_codes_help() -> str:
    """The exit code table, for --help and the README."""
    return "\n".join(f"  {code}  {what}" for code, what in EXIT_CODES.items())
