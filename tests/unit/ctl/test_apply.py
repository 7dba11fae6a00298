"""xendix apply: the policy decides, the toggle is written before connect."""

import json

from click.testing import CliRunner

from xendix.cli import main

from .conftest import BE

NODE = "data-integrity-enable"
POLICY = """
[default]
dix = "auto"
[domain.web.vdev.xvdc]
dix = "off"
[domain.db]
dix = "on"
"""


def run(host, *args):
    return CliRunner().invoke(main, list(args), obj=host)


def policy_file(tmp_path, text=POLICY):
    p = tmp_path / "policy.toml"
    p.write_text(text)
    return str(p)


def fresh_vbd(store, domid, devid, vdev, params="/dev/sda", phys=None):
    """A vbd as udev's add event finds it: backend InitWait, no features yet."""
    return store.add_vbd(domid, devid, vdev, params=params, phys=phys, be_state=2, fe_state=1,
                         advertised=None, negotiated=None)


def test_auto_enables_a_dix_disk(host, store, tmp_path):
    fresh_vbd(store, 1, 51728, "xvdb")
    r = run(host, "apply", "--policy", policy_file(tmp_path), "vbd-1-51728")
    assert r.exit_code == 0, r.output
    assert store.nodes[f"{BE}/1/51728/{NODE}"] == "1"
    assert r.output.strip() == ('vbd-1-51728 (web xvdb): DIX on by [default] dix = "auto", '
                                'disk sda T10-DIF-TYPE1-CRC/512/2')


def test_auto_disables_a_plain_disk(host, store, tmp_path):
    fresh_vbd(store, 1, 51728, "xvdb", params="/dev/ram1")
    r = run(host, "apply", "--policy", policy_file(tmp_path), "--json", "1/51728")
    assert store.nodes[f"{BE}/1/51728/{NODE}"] == "0"
    out = json.loads(r.output)
    assert (out["mode"], out["rule"], out["enable"]) == ("auto", "[default]", False)
    assert (out["domid"], out["devid"], out["backing"]["device"]) == (1, 51728, "ram1")
    assert out["backing"]["integrity"]["known"] is False


def test_per_vdev_and_per_domain_rules(host, store, tmp_path):
    store.add_domain(2, "db")
    fresh_vbd(store, 1, 51744, "xvdc")
    fresh_vbd(store, 2, 51728, "xvdb", params="/dev/ram1")
    pol = policy_file(tmp_path)
    run(host, "apply", "--policy", pol, "web", "xvdc")
    run(host, "apply", "--policy", pol, "db", "xvdb")
    assert store.nodes[f"{BE}/1/51744/{NODE}"] == "0"
    assert store.nodes[f"{BE}/2/51728/{NODE}"] == "1"


def test_auto_waits_for_the_hotplug_script_to_name_the_disk(host, store, tmp_path):
    """udev's add event can come before physical-device; params may not be a path."""
    be = fresh_vbd(store, 1, 51728, "xvdb", params="some-image")
    ticks = []
    sleep = host.sleep

    def hotplug_after_a_second(s):
        ticks.append(s)
        sleep(s)
        if len(ticks) == 5:
            store.nodes[f"{be}/physical-device"] = "8:0"

    host.sleep = hotplug_after_a_second
    assert run(host, "apply", "--policy", policy_file(tmp_path), "1/51728").exit_code == 0
    assert store.nodes[f"{be}/{NODE}"] == "1" and len(ticks) == 5


def test_the_wait_is_bounded(host, store, tmp_path):
    be = fresh_vbd(store, 1, 51728, "xvdb", params="some-image")
    r = run(host, "apply", "--policy", policy_file(tmp_path), "--wait", "2", "1/51728")
    assert r.exit_code == 0 and "disk not found" in r.output
    assert store.nodes[f"{be}/{NODE}"] == "0"


def test_keep_existing_leaves_an_explicit_choice(host, store, tmp_path):
    be = fresh_vbd(store, 1, 51728, "xvdb")
    store.nodes[f"{be}/{NODE}"] = "0"
    r = run(host, "apply", "--keep-existing", "--policy", policy_file(tmp_path), "1/51728")
    assert r.exit_code == 0 and "kept" in r.output
    assert store.committed == []


def test_without_keep_existing_the_policy_overrides(host, store, tmp_path):
    be = fresh_vbd(store, 1, 51728, "xvdb")
    store.nodes[f"{be}/{NODE}"] = "0"
    run(host, "apply", "--policy", policy_file(tmp_path), "1/51728")
    assert store.nodes[f"{be}/{NODE}"] == "1"
