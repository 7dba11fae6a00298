"""enable/disable: one transaction, retried on EAGAIN, nothing written on error."""

import json

import pytest
from click.testing import CliRunner

from xendix import errors
from xendix.cli import main
from xendix.switch import switch
from xendix.toggle import write_toggles

from .conftest import BE

NODE = "data-integrity-enable"


def run(host, *args):
    return CliRunner().invoke(main, list(args), obj=host)


def test_disable_writes_the_toggle_and_says_when_it_applies(host, store):
    store.add_vbd(1, 51728, "xvdb")
    r = run(host, "disable", "web", "xvdb")
    assert r.exit_code == 0, r.output
    assert store.nodes[f"{BE}/1/51728/{NODE}"] == "0"
    assert "DIX disabled on vbd-1-51728 (xvdb)" in r.output
    assert "takes effect at the next connect" in r.output
    assert store.begins == store.commits == 1


def test_enable_json_reports_before_and_after(host, store):
    store.add_vbd(1, 51728, "xvdb", admin="0")
    r = run(host, "enable", "web", "xvdb", "--json")
    assert json.loads(r.output) == {"changes": [{"vbd": "vbd-1-51728", "domid": 1, "devid": 51728,
                                                 "vdev": "xvdb", "before": "0", "after": "1"}],
                                    "takes_effect": "next-connect", "reattached": []}


def test_all_writes_every_vbd_in_one_transaction(host, store):
    store.add_domain(2, "db")
    for d, n in ((1, 51728), (1, 51744), (2, 51728)):
        store.add_vbd(d, n, "x")
    r = run(host, "disable", "--all")
    assert r.exit_code == 0, r.output
    assert store.commits == 1
    assert [p for p, _ in store.committed] == [f"{BE}/{d}/{n}/{NODE}" for d, n in
                                               ((1, 51728), (1, 51744), (2, 51728))]


def test_all_of_one_domain(host, store):
    store.add_domain(2, "db")
    store.add_vbd(1, 51728, "xvdb")
    store.add_vbd(2, 51728, "xvdb")
    run(host, "disable", "--all", "db")
    assert [p for p, _ in store.committed] == [f"{BE}/2/51728/{NODE}"]


def test_a_conflicting_transaction_is_retried_from_the_start(host, store):
    store.add_vbd(1, 51728, "xvdb")
    store.conflicts = 2
    assert run(host, "disable", "web", "xvdb").exit_code == 0
    assert store.begins == 3 and store.nodes[f"{BE}/1/51728/{NODE}"] == "0"


def test_endless_conflicts_fail_without_writing(host, store):
    store.add_vbd(1, 51728, "xvdb")
    store.conflicts = 1000
    r = run(host, "disable", "web", "xvdb")
    assert r.exit_code == errors.GENERIC and "still conflicting" in r.stderr
    assert store.committed == []


def test_a_vbd_that_vanishes_mid_transaction_aborts_all_of_it(store):
    store.add_vbd(1, 51728, "xvdb")
    with pytest.raises(errors.UnknownVdev):
        write_toggles(store, {(1, 51728): False, (1, 51744): False})
    assert store.committed == [] and store.pending is None


def test_an_unchanged_value_is_not_rewritten(host, store):
    store.add_vbd(1, 51728, "xvdb", admin="1")
    r = run(host, "enable", "web", "xvdb")
    assert "already" in r.output and store.committed == []


def test_a_domain_and_vdev_or_all_are_required(host, store):
    store.add_vbd(1, 51728, "xvdb")
    r = run(host, "enable", "web")
    assert (r.exit_code, r.stderr) == (
        errors.USAGE, "xendix: missing VDEV: name a disk of 'web', or use --all for every one\n")
    r = run(host, "enable")
    assert (r.exit_code, r.stderr) == (errors.USAGE, "xendix: name a DOMAIN and a VDEV, or use --all\n")
    assert store.committed == []


def test_all_with_a_vdev_is_refused_not_widened_to_every_disk(host, store):
    """The finding: ``disable --all web xvdb`` switched every disk of web."""
    store.add_vbd(1, 51728, "xvdb")
    store.add_vbd(1, 51744, "xvdc")
    for args in (["disable", "--all", "web", "xvdb"], ["disable", "web", "xvdb", "--all"]):
        r = run(host, *args)
        assert (r.exit_code, r.stderr) == (errors.USAGE, "xendix: --all switches every vbd (of DOMAIN): "
                                           "give no VDEV ('xvdb'), or drop --all\n")
    assert store.committed == []


def test_the_api_refuses_the_same_command_lines(host, store):
    store.add_vbd(1, 51728, "xvdb")
    with pytest.raises(errors.Usage):
        switch(host, False, "web", "xvdb", every=True)
    with pytest.raises(errors.Usage):
        switch(host, False, "web", None)
    assert store.committed == []
