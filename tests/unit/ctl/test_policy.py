"""The policy file: default, per-domain and per-vdev rules; malformed files."""

import pytest

from xendix import errors, policy
from xendix.errors import BAD_POLICY, BadPolicy

XVDB, XVDC = 51728, 51744

GOOD = """
[default]
dix = "auto"

[domain.web]
dix = "on"

[domain.web.vdev.xvdc]
dix = "off"

[domain.db.vdev.xvdb]
dix = "on"
"""


def test_the_most_specific_rule_wins():
    p = policy.parse(GOOD)
    assert policy.decide(p, "web", XVDB, False) == policy.Decision("on", "[domain.web]", True)
    assert policy.decide(p, "web", XVDC, True) == policy.Decision(
        "off", "[domain.web.vdev.xvdc]", False)
    assert policy.decide(p, "db", XVDB, False).enable is True
    assert policy.decide(p, "db", XVDC, False).rule == "[default]"


def test_auto_enables_only_an_integrity_capable_disk():
    p = policy.parse(GOOD)
    assert policy.decide(p, "other", XVDB, True).enable is True
    assert policy.decide(p, "other", XVDB, False).enable is False
    assert policy.decide(p, "other", XVDB, None).enable is False


def test_an_empty_file_means_auto_everywhere():
    p = policy.parse("")
    assert p.default == "auto" and p.domains == {}


def test_a_missing_default_file_is_the_builtin_auto(tmp_path, monkeypatch):
    monkeypatch.delenv(policy.ENV, raising=False)
    monkeypatch.setattr(policy, "DEFAULT_PATH", tmp_path / "none.toml")
    assert policy.load() == policy.Policy()


def test_a_named_file_that_is_missing_is_an_error(tmp_path):
    with pytest.raises(BadPolicy, match="does not exist"):
        policy.load(str(tmp_path / "none.toml"))


def test_the_environment_names_the_file(tmp_path, monkeypatch):
    f = tmp_path / "p.toml"
    f.write_text('[default]\ndix = "off"\n')
    monkeypatch.setenv(policy.ENV, str(f))
    assert policy.load().default == "off"


@pytest.mark.parametrize("text, message", [
    ("[default\n", "not valid TOML"),
    ('[default]\ndix = "maybe"\n', "dix must be one of on, off, auto"),
    ("[default]\ndix = 1\n", "dix must be one of"),
    ('[default]\ndix = "on"\ncolour = "red"\n', "unknown key 'colour'"),
    ('[defaults]\ndix = "on"\n', "unknown key 'defaults'"),
    ('domain = "web"\n', "must be a table"),
    ('[domain.web]\nmode = "on"\n', "unknown key 'mode'"),
    ('[domain.web.vdev.floppy]\ndix = "on"\n', "not a virtual disk name"),
    ('[domain.web.vdev.xvdb]\n', "dix must be one of"),
])
def test_a_malformed_policy_names_its_first_problem(text, message):
    with pytest.raises(BadPolicy, match=message) as e:
        policy.parse(text, "p.toml")
    assert e.value.exit_code == BAD_POLICY
    assert str(e.value).startswith("p.toml")


def test_a_message_says_when_more_problems_follow():
    with pytest.raises(BadPolicy) as e:
        policy.parse('[default]\ndix = "maybe"\n[domain.web]\nmode = "on"\n', "p.toml")
    assert str(e.value) == ("p.toml: [default]: dix must be one of on, off, auto, not 'maybe' "
                            "(and 1 more: xendix policy check)")


# -- one disk, several names ------------------------------------------------------

@pytest.mark.parametrize("alias", ["51728", "d1"])
def test_two_names_of_one_disk_that_decide_differently_are_refused(alias):
    text = f'[domain.web.vdev.xvdb]\ndix = "on"\n[domain.web.vdev.{alias}]\ndix = "off"\n'
    with pytest.raises(BadPolicy) as e:
        policy.parse(text, "p.toml")
    assert str(e.value) == (f'p.toml: [domain.web.vdev.{alias}]: dix = "off", but '
                            '[domain.web.vdev.xvdb] names the same disk (xvdb, devid 51728) '
                            'with dix = "on"')


def test_two_names_of_one_disk_that_agree_are_one_rule():
    p = policy.parse('[domain.web.vdev.xvdb]\ndix = "off"\n[domain.web.vdev.51728]\ndix = "off"\n')
    assert p.domains["web"] == (None, {XVDB: "off"})
    assert policy.decide(p, "web", XVDB, True).enable is False


def test_the_same_vdev_in_two_domains_is_two_disks():
    p = policy.parse('[domain.web.vdev.xvdb]\ndix = "on"\n[domain.db.vdev.51728]\ndix = "off"\n')
    assert policy.decide(p, "web", XVDB, False).enable and not policy.decide(p, "db", XVDB, True).enable


# -- xendix policy check ------------------------------------------------------------

def check(host, *args):
    from click.testing import CliRunner

    from xendix.cli import main
    host.euid = lambda: 1000  # a file check needs no root, no dom0, no xenstore
    return CliRunner().invoke(main, ["policy", "check", *args], obj=host)


def test_policy_check_says_ok_and_counts_the_rules(tmp_path, host):
    f = tmp_path / "p.toml"
    f.write_text(GOOD)
    r = check(host, str(f))
    assert (r.exit_code, r.output) == (0, f"policy {f}: ok (4 rules)\n")
    f.write_text('[domain.web]\ndix = "on"\n')
    assert check(host, str(f)).output == f"policy {f}: ok (1 rule)\n"


def test_policy_check_prints_every_problem_one_line_each(tmp_path, host):
    f = tmp_path / "p.toml"
    f.write_text('[default]\ndix = "maybe"\n[domain.web]\nmode = "on"\n'
                 '[domain.web.vdev.xvdb]\ndix = "on"\n[domain.web.vdev.d1]\ndix = "off"\n'
                 '[domain.web.vdev.floppy]\ndix = "on"\n')
    r = check(host, str(f))
    assert r.exit_code == errors.BAD_POLICY
    assert r.output.splitlines() == [
        f"xendix: {f}: [default]: dix must be one of on, off, auto, not 'maybe'",
        f"xendix: {f}: [domain.web]: unknown key 'mode'",
        f'xendix: {f}: [domain.web.vdev.d1]: dix = "off", but [domain.web.vdev.xvdb] names the '
        'same disk (xvdb, devid 51728) with dix = "on"',
        f"xendix: {f}: [domain.web.vdev.floppy]: not a virtual disk name: 'floppy'",
    ]


def test_policy_check_of_a_file_that_is_not_there_or_not_toml(tmp_path, host):
    r = check(host, str(tmp_path / "none.toml"))
    assert (r.exit_code, r.output) == (errors.BAD_POLICY,
                                       f"xendix: policy file {tmp_path / 'none.toml'} does not exist\n")
    (tmp_path / "bad.toml").write_text("[default\n")
    r = check(host, str(tmp_path / "bad.toml"))
    assert r.exit_code == errors.BAD_POLICY and r.output.count("\n") == 1
    assert "not valid TOML" in r.output


def test_policy_check_without_a_path_checks_the_policy_in_force(tmp_path, host, monkeypatch):
    monkeypatch.delenv(policy.ENV, raising=False)
    monkeypatch.setattr(policy, "DEFAULT_PATH", tmp_path / "none.toml")
    r = check(host)
    assert (r.exit_code, r.output) == (0, f"policy {tmp_path / 'none.toml'}: absent, the built-in "
                                          'default applies (dix = "auto" everywhere)\n')
    f = tmp_path / "env.toml"
    f.write_text('[default]\ndix = "off"\n')
    monkeypatch.setenv(policy.ENV, str(f))
    assert check(host).output == f"policy {f}: ok (1 rule)\n"
