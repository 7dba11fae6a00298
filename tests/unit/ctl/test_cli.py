"""The command line's conventions: one-line usage errors, one order of
checks, Ctrl-C, --version, status -o and --check, JSON types, examples."""

import importlib.metadata
import json
import re
import shlex
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from xendix import cli, errors
from xendix.cli import main
from xendix.xenstore import PyxsStore

from .conftest import BE, make_stats

NODE = "data-integrity-enable"
ROOT = Path(__file__).resolve().parents[3]


def run(host, *args):
    return CliRunner().invoke(main, list(args), obj=host)


def policy_file(tmp_path, text='[default]\ndix = "auto"\n', name="policy.toml"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


# -- usage errors ---------------------------------------------------------

USAGE_ERRORS = {
    "--all with a VDEV": (["disable", "--all", "web", "xvdb"],
                          "--all switches every vbd (of DOMAIN): give no VDEV ('xvdb'), or drop --all"),
    "a missing VDEV": (["enable", "web"], "missing VDEV: name a disk of 'web', or use --all for every one"),
    "no target at all": (["disable"], "name a DOMAIN and a VDEV, or use --all"),
    "a full-width domid": (["status", "４"],
                           "invalid value for '[DOMAIN]': domain id '４' is not in ASCII digits"),
    "an Arabic-Indic domid": (["enable", "٤", "xvdb"],
                              "invalid value for '[DOMAIN]': domain id '٤' is not in ASCII digits"),
    "a superscript domid": (["status", "²"],
                            "invalid value for '[DOMAIN]': domain id '²' is not in ASCII digits"),
    "an empty domain": (["status", ""], "invalid value for '[DOMAIN]': empty domain name"),
    "a full-width devid": (["status", "web", "５１７２８"],
                           "invalid value for '[VDEV]': devid '５１７２８' is not in ASCII digits"),
    "a full-width partition": (["status", "web", "xvdb１"],
                               "invalid value for '[VDEV]': not a virtual disk name: 'xvdb１'"),
    "a name that is no disk": (["status", "web", "floppy"],
                               "invalid value for '[VDEV]': not a virtual disk name: 'floppy'"),
    "a full-width D/D": (["apply", "４/５１７２８"],
                         "not a vbd: '４/５１７２８' (DOMID/DEVID, vbd-DOMID-DEVID or DOMAIN VDEV)"),
    "a full-width vbd-D-D": (["apply", "vbd-1-５１７２８"],
                             "not a vbd: 'vbd-1-５１７２８' (DOMID/DEVID, vbd-DOMID-DEVID or DOMAIN VDEV)"),
    "a vbd id and a newline": (["apply", "vbd-1-51728\n"],
                               "not a vbd: 'vbd-1-51728\\n' (DOMID/DEVID, vbd-DOMID-DEVID or DOMAIN VDEV)"),
    "apply DOMAIN with a bad VDEV": (["apply", "web", "xvdb0"],
                                     "invalid value for '[VDEV]': bad partition number in 'xvdb0'"),
    "--timeout nan": (["monitor", "--timeout", "nan"], "invalid value for '--timeout': 'nan' is not a "
                      "number of seconds (ASCII digits, maybe a point)"),
    "--timeout inf": (["monitor", "--timeout", "inf"], "invalid value for '--timeout': 'inf' is not a "
                      "number of seconds (ASCII digits, maybe a point)"),
    "--wait nan": (["apply", "--wait", "NaN", "1/51728"], "invalid value for '--wait': 'NaN' is not a "
                   "number of seconds (ASCII digits, maybe a point)"),
    "--wait in full-width digits": (["apply", "--wait", "１０", "1/51728"],
                                    "invalid value for '--wait': '１０' is not a number of seconds "
                                    "(ASCII digits, maybe a point)"),
    "--count in full-width digits": (["monitor", "--count", "５"], "invalid value for '--count': "
                                     "'５' is not a whole number in ASCII digits"),
    "--count 0": (["monitor", "--count", "0"],
                  "invalid value for '--count': 0 is not in the range x>=1"),
    "an unknown column": (["status", "-o", "vdev,colour"],
                          "invalid value for '-o' / '--output': unknown column 'COLOUR' (columns: DOMAIN,"
                          "ID,VDEV,DEVID,BACKEND,FRONTEND,BACKING,PROFILE,ADMIN,ADV,NEG,VERDICT,DIX_REQ,"
                          "DIX_ERR,RD_REQ,WR_REQ,WHY)"),
    "click: an extra argument": (["status", "web", "xvdb", "xvdc"], "got unexpected extra argument (xvdc)"),
    "click: no such command": (["frobnicate"], "no such command 'frobnicate'"),
    "click: no such option": (["status", "--colour"], re.compile(r"no such option:? '?--colour'?")),
    "click: a missing argument": (["apply"], "missing argument 'VBD|DOMAIN'"),
}


@pytest.mark.parametrize("args, message", USAGE_ERRORS.values(), ids=USAGE_ERRORS)
def test_a_usage_error_is_one_line_exit_2_before_anything_else(host, store, args, message):
    """As a user who is not root, not in dom0, without xenstored: the command
    line is checked first, and nothing is read or written."""
    store.add_vbd(1, 51728, "xvdb")
    host.euid = lambda: 1000
    host.connect = lambda: pytest.fail("xenstore was reached")
    r = run(host, *args)
    assert (r.exit_code, r.stdout) == (errors.USAGE, "")
    if isinstance(message, re.Pattern):  # click's own words vary between versions
        assert re.fullmatch(f"xendix: {message.pattern}\n", r.stderr), r.stderr
    else:
        assert r.stderr == f"xendix: {message}\n"
    assert store.committed == []


def test_full_width_digits_never_select_a_vbd(host, store):
    """The finding: ``apply ４/５１７２８`` wrote vbd-4-51728's toggle."""
    store.add_domain(4, "db")
    store.add_vbd(4, 51728, "xvdb")
    for args in (["apply", "４/５１７２８"], ["apply", "vbd-４-51728"], ["enable", "４", "xvdb"],
                 ["disable", "4", "５１７２８"], ["status", "４"]):
        assert run(host, *args).exit_code == errors.USAGE, args
    assert store.committed == []


def test_an_ambiguous_domain_name_is_refused_naming_its_domids(host, store):
    store.add_domain(7, "web")
    store.add_vbd(1, 51728, "xvdb")
    store.add_vbd(7, 51728, "xvdb")
    for args in (["status", "web"], ["disable", "web", "xvdb"], ["disable", "--all", "web"],
                 ["apply", "web", "xvdb"]):
        r = run(host, *args)
        assert (r.exit_code, r.stderr, r.stdout) == (
            errors.USAGE, "xendix: domain name 'web' is ambiguous: domids 1, 7\n", ""), args
    assert store.committed == []
    (v,) = json.loads(run(host, "status", "7", "xvdb", "--json").output)["vbds"]
    assert v["domid"] == 7  # the domid still picks one


def test_help_is_still_help(host):
    for args in (["--help"], ["-h"], ["status", "--help"], ["apply", "-h"]):
        r = run(host, *args)
        assert r.exit_code == 0 and r.stdout.startswith("Usage: xendix") and r.stderr == ""


# -- the order of checks ----------------------------------------------------

# Each command starts with every fault at once: a bad command line, not root,
# not dom0, no xenstored, a bad policy, an unknown target, a refused --now.
# Each step fixes one ("root", "dom0", "xenstore") or changes the command
# line, and the exit code says which fault is found next.
LADDERS = {
    "enable --now": [
        (None, ["enable", "--now", "--all", "nosuch", "xvda"], errors.USAGE),
        (None, ["enable", "--now", "nosuch", "xvda"], errors.NOT_ROOT),
        ("root", None, errors.NOT_DOM0),
        ("dom0", None, errors.NO_XENSTORE),
        ("xenstore", None, errors.UNKNOWN_TARGET),
        (None, ["enable", "--now", "web", "xvda"], errors.REFUSED),
        (None, ["enable", "web", "xvda"], errors.OK)],
    "apply": [
        (None, ["apply", "--policy", "BAD", "--wait", "nan", "nosuch", "xvda"], errors.USAGE),
        (None, ["apply", "--policy", "BAD", "--wait", "0", "nosuch", "xvda"], errors.NOT_ROOT),
        ("root", None, errors.NOT_DOM0),
        ("dom0", None, errors.NO_XENSTORE),
        ("xenstore", None, errors.BAD_POLICY),
        (None, ["apply", "--policy", "GOOD", "--wait", "0", "nosuch", "xvda"], errors.UNKNOWN_TARGET),
        (None, ["apply", "--policy", "GOOD", "--wait", "0", "web", "xvda"], errors.OK)],
    "status --check": [
        (None, ["status", "--check", "--policy", "BAD", "-o", "nosuch", "nosuch"], errors.USAGE),
        (None, ["status", "--check", "--policy", "BAD", "nosuch"], errors.NOT_ROOT),
        ("root", None, errors.NOT_DOM0),
        ("dom0", None, errors.NO_XENSTORE),
        ("xenstore", None, errors.BAD_POLICY),
        (None, ["status", "--check", "--policy", "GOOD", "nosuch"], errors.UNKNOWN_TARGET),
        (None, ["status", "--check", "--policy", "GOOD", "web"], errors.OK)],
    "devices": [
        (None, ["devices", "--jsno"], errors.USAGE),
        (None, ["devices", "--json"], errors.NOT_ROOT),
        ("root", None, errors.NOT_DOM0),
        ("dom0", None, errors.NO_XENSTORE),
        ("xenstore", None, errors.OK)],
}


@pytest.mark.parametrize("steps", LADDERS.values(), ids=LADDERS)
def test_every_command_checks_in_the_documented_order(host, store, proc, tmp_path, steps):
    store.add_vbd(1, 51712, "xvda")
    files = {"BAD": policy_file(tmp_path, "[default]\ndix = 1\n", "bad.toml"),
             "GOOD": policy_file(tmp_path, '[default]\ndix = "off"\n')}
    host.euid = lambda: 1000
    (proc / "xen" / "capabilities").write_text("\n")
    host.connect = lambda: PyxsStore(str(tmp_path / "no-xenstored"))
    fixes = {"root": lambda: setattr(host, "euid", lambda: 0),
             "dom0": lambda: (proc / "xen" / "capabilities").write_text("control_d\n"),
             "xenstore": lambda: setattr(host, "connect", lambda: store)}
    args, codes = None, []
    for fix, new_args, _ in steps:
        if fix:
            fixes[fix]()
        args = [files.get(a, a) for a in new_args] if new_args else args
        r = run(host, *args)
        codes.append(r.exit_code)
        assert r.exit_code == errors.OK or store.committed == []
    assert codes == [code for _, _, code in steps]


def test_the_documented_order_is_the_tested_one():
    steps = re.findall(r"^\d\. [^(]*\((\d+)", errors.__doc__, re.M)
    assert [int(s) for s in steps] == [errors.USAGE, errors.NOT_ROOT, errors.NOT_DOM0, errors.NO_XENSTORE,
                                       errors.BAD_POLICY, errors.UNKNOWN_TARGET, errors.REFUSED,
                                       errors.GENERIC]


# -- Ctrl-C ---------------------------------------------------------------

def interrupt(*_):
    raise KeyboardInterrupt


def test_ctrl_c_exits_130_without_a_traceback_or_aborted(host):
    host.connect = interrupt
    r = run(host, "status")
    assert r.exit_code == errors.INTERRUPTED == 130
    assert "Aborted" not in r.output and "Traceback" not in r.output and r.stdout == ""


def test_ctrl_c_while_apply_waits_writes_nothing(host, store, tmp_path):
    store.add_vbd(1, 51728, "xvdb", params="not-yet", phys=None, be_state=2, fe_state=1,
                  advertised=None, negotiated=None)
    host.sleep = interrupt
    r = run(host, "apply", "--policy", policy_file(tmp_path), "1/51728")
    assert r.exit_code == 130 and "Aborted" not in r.output and store.committed == []


# -- --version ----------------------------------------------------------------

def test_version_comes_from_the_package_metadata(host):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert cli.PACKAGE == project["name"]
    r = run(host, "--version")
    assert (r.exit_code, r.stdout) == (0, f"xendix, version {importlib.metadata.version(cli.PACKAGE)}\n")


def test_version_outside_an_installation_says_so(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)
    monkeypatch.setattr(importlib.metadata, "version", missing)
    assert cli.package_version() == "unknown (not installed)"


# -- status -o ----------------------------------------------------------------

def typical(store, sysfs):
    store.add_domain(2, "db")
    store.add_vbd(1, 51728, "xvdb")
    store.add_vbd(2, 51744, "xvdc", params="/dev/ram1", phys="1:1", advertised="0")
    make_stats(sysfs, 1, 51728, dix_req=123456, dix_err=0)


def test_the_default_table_fits_100_columns(host, store, sysfs):
    typical(store, sysfs)
    r = run(host, "status")
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["DOMAIN", "ID", "VDEV", "BACKING", "PROFILE", "ADMIN", "VERDICT",
                                "DIX_REQ", "DIX_ERR"]
    assert lines[1].split() == ["web", "1", "xvdb", "sda(8:0)", "T10-DIF-TYPE1-CRC/512/2", "on*",
                                "protected", "123456", "0"]
    assert max(map(len, lines)) <= 100


def test_o_picks_columns_in_any_case_and_order(host, store, sysfs):
    typical(store, sysfs)
    lines = run(host, "status", "-o", "vdev,Verdict,why").stdout.splitlines()
    assert lines[0].split() == ["VDEV", "VERDICT", "WHY"]
    assert lines[2].startswith("xvdc  unsupported-disk  the backing disk has no T10")
    assert "ADMIN *" not in lines[-1]  # the note only comes with its column


def test_o_plus_adds_to_the_default(host, store, sysfs):
    typical(store, sysfs)
    header = run(host, "status", "--output", "+backend,frontend,why").stdout.splitlines()[0]
    assert header.split() == ["DOMAIN", "ID", "VDEV", "BACKING", "PROFILE", "ADMIN", "VERDICT", "DIX_REQ",
                              "DIX_ERR", "BACKEND", "FRONTEND", "WHY"]


# -- status --check ------------------------------------------------------------

def test_check_passes_when_every_disk_the_policy_wants_is_protected(host, store, sysfs, tmp_path):
    typical(store, sysfs)  # auto: xvdc's plain disk is not wanted
    r = run(host, "status", "--check", "--policy", policy_file(tmp_path))
    assert (r.exit_code, r.stderr) == (0, "")


def test_check_fails_naming_each_disk_the_policy_wants_and_does_not_get(host, store, sysfs, tmp_path):
    typical(store, sysfs)
    pol = policy_file(tmp_path, '[default]\ndix = "auto"\n[domain.db]\ndix = "on"\n')
    r = run(host, "status", "--check", "--policy", pol)
    assert r.exit_code == errors.UNPROTECTED == 9
    assert r.stderr == (f"xendix: 1 of 2 disks not protected as the policy ({pol}) wants: "
                        "db xvdc (unsupported-disk)\n")
    assert "protected" in r.stdout  # the table still comes, for the log
    assert store.committed == []


@pytest.mark.parametrize("dix", ["auto", "on", "off"])
def test_check_fails_on_a_profile_changed_disk_whatever_the_policy(host, store, sysfs, tmp_path, dix):
    """Its guest gets EIO on every DIX pair; auto no longer wants a disk that
    lost its profile, and the connection predates an off."""
    typical(store, sysfs)
    store.add_vbd(1, 51744, "xvdc", params="/dev/ram1", phys="1:1")  # advertised at connect
    pol = policy_file(tmp_path, f'[default]\ndix = "{dix}"\n[domain.db]\ndix = "auto"\n')
    r = run(host, "status", "--check", "--policy", pol)
    assert r.exit_code == errors.UNPROTECTED
    assert r.stderr == (f"xendix: 1 of 3 disks not protected as the policy ({pol}) wants: "
                        "web xvdc (profile-changed)\n")


def test_check_finds_a_domain_by_its_name_not_its_escaped_display(host, store, tmp_path):
    store.add_domain(2, "café")
    store.add_vbd(2, 51728, "xvdb", params="/dev/ram1", phys="1:1", advertised="0")
    pol = policy_file(tmp_path, '[domain."café"]\ndix = "on"\n')
    r = run(host, "status", "--check", "--policy", pol)
    assert r.exit_code == errors.UNPROTECTED
    assert r.stderr.endswith("wants: caf\\xc3\\xa9 xvdb (unsupported-disk)\n")


def test_check_reads_the_policy_before_the_vbds(host, store, tmp_path):
    r = run(host, "status", "--check", "--policy", str(tmp_path / "gone.toml"))
    assert (r.exit_code, r.stdout) == (errors.BAD_POLICY, "")


def test_without_check_the_policy_is_not_read(host, store, tmp_path):
    r = run(host, "status", "--policy", str(tmp_path / "gone.toml"))
    assert r.exit_code == 0


# -- JSON -----------------------------------------------------------------------

def walk(data, path=""):
    """(path, key, value) of every key in nested dicts and lists."""
    if isinstance(data, dict):
        for k, v in data.items():
            yield path, k, v
            yield from walk(v, f"{path}.{k}")
    elif isinstance(data, list):
        for v in data:
            yield from walk(v, f"{path}[]")


def test_every_json_key_is_snake_case_and_every_id_an_int(host, store, sysfs, tmp_path):
    typical(store, sysfs)
    outputs = [run(host, *args).stdout for args in (
        ["status", "--json"], ["devices", "--json"], ["disable", "db", "xvdc", "--json"],
        ["apply", "--policy", policy_file(tmp_path), "--json", "web", "xvdb"])]
    for data in map(json.loads, outputs):
        for path, key, value in walk(data):
            assert re.fullmatch(r"[a-z][a-z0-9_]*", key), (path, key)
            if key in ("domid", "devid") or key.endswith(("_req", "_err", "_size", "interval")):
                assert value is None or type(value) is int, (path, key, value)


def test_the_backends_profile_has_the_backing_disks_keys_and_types(host, store):
    store.add_vbd(1, 51728, "xvdb")
    (v,) = json.loads(run(host, "status", "--json").stdout)["vbds"]
    assert v["backend"]["profile"] == {"format": "T10-DIF-TYPE1-CRC", "interval": 512,
                                       "tuple_size": 8, "tag_size": 2}
    assert v["backing"]["integrity"]["interval"] == 512


def test_a_profile_number_that_is_not_one_is_null(host, store):
    be = store.add_vbd(1, 51728, "xvdb")
    store.nodes[f"{be}/data-integrity-interval"] = "５１２"
    del store.nodes[f"{be}/data-integrity-tag-size"]
    (v,) = json.loads(run(host, "status", "--json").stdout)["vbds"]
    assert (v["backend"]["profile"]["interval"], v["backend"]["profile"]["tag_size"]) == (None, None)


def test_apply_json_names_the_vbd_as_status_does(host, store, tmp_path):
    store.add_vbd(1, 51728, "xvdb", be_state=2, fe_state=1, advertised=None, negotiated=None)
    applied = json.loads(run(host, "apply", "--policy", policy_file(tmp_path), "--json", "1/51728").stdout)
    (v,) = json.loads(run(host, "status", "--json").stdout)["vbds"]
    assert (applied["domid"], applied["devid"], applied["domain"]) == (v["domid"], v["devid"], v["domain"])
    assert applied["backing"] == v["backing"]


# -- --help ---------------------------------------------------------------------

@pytest.mark.parametrize("command", ["status", "enable", "disable", "devices", "monitor", "apply",
                                     "policy check", "udev install"])
def test_each_commands_help_ends_with_examples_that_parse(host, command):
    words = command.split()
    out = run(host, *words, "--help").stdout
    examples = out.split("Examples:\n\n")[1].splitlines()
    assert examples and all(line.startswith(f"    xendix {command}") for line in examples)
    cmd = main
    for word in words:
        cmd = cmd.commands[word]
    for line in examples:
        args = shlex.split(line.split("|")[0].split(">")[0])[1 + len(words):]
        with cmd.make_context(command, args) as ctx:  # raises on a usage error
            if getattr(cmd, "check", None):
                cmd.check(ctx.params)


def test_the_top_level_help_lists_the_new_exit_codes(host):
    out = run(host, "--help").stdout
    assert "  9  status --check" in out and "130  interrupted (Ctrl-C)" in out


def test_ascii_numbers_still_name_domains_and_disks(host, store):
    store.add_vbd(1, 51728, "xvdb")
    for args in (["status", "1", "51728"], ["status", "web", "d1"], ["apply", "vbd-1-51728"],
                 ["apply", "1/51728"], ["apply", "--wait", "2.5", "1", "xvdb"]):
        assert run(host, *args).exit_code == 0, args
    assert store.nodes[f"{BE}/1/51728/{NODE}"] == "1"
    with main.commands["monitor"].make_context("monitor", ["--count", "12", "--timeout", ".5"]) as ctx:
        assert (ctx.params["count"], ctx.params["timeout"]) == (12, 0.5)
