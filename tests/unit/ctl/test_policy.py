"""The policy file: default, per-domain and per-vdev rules; malformed files."""

import pytest

from xendix import policy
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
