"""--now: detach + re-attach with the same config; refused where unsafe."""

import json
import subprocess

from click.testing import CliRunner

from xendix import errors
from xendix.cli import main
from xendix.reattach import disk_spec
from xendix.vbd import Vbd

from .conftest import BE

NODE = "data-integrity-enable"


def run(host, *args):
    return CliRunner().invoke(main, list(args), obj=host)


class FakeXl:
    """xl block-detach removes the backend; block-attach recreates it (with
    no toggle, as libxl does), then blkback and blkfront connect, advertising
    according to the toggle found at that point."""

    def __init__(self, store, host):
        self.store, self.calls = store, []
        host.run.effects["block-detach"] = self.detach
        host.spawn = self.spawn
        self.later, sleep = [], host.sleep

        def sleep_then_connect(seconds):
            sleep(seconds)
            while self.later:
                self.later.pop(0)()
        host.sleep = sleep_then_connect

    def detach(self, argv):
        self.calls.append(argv[1:])
        domid, devid = argv[2], argv[3]
        for n in [n for n in self.store.nodes if n.startswith(f"{BE}/{domid}/{devid}/")
                  or n.startswith(f"/local/domain/{domid}/device/vbd/{devid}/")]:
            del self.store.nodes[n]

    def spawn(self, argv):
        self.calls.append(argv[1:])
        store = self.store
        be = store.add_vbd(1, 51728, "xvdb", be_state=2, fe_state=1, advertised=None, negotiated=None)
        store._land(f"{be}/frontend", store.nodes[f"{be}/frontend"])  # the watch fires

        def connect():
            on = store.nodes.get(f"{be}/{NODE}", "1") != "0"
            store.add_vbd(1, 51728, "xvdb", advertised="1" if on else "0",
                          admin=store.nodes.get(f"{be}/{NODE}"))
        self.later.append(connect)
        return subprocess.Popen(["true"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_disable_now_reattaches_and_the_disk_comes_back_unprotected(host, store):
    store.add_vbd(1, 51728, "xvdb")
    xl = FakeXl(store, host)
    r = run(host, "disable", "web", "xvdb", "--now", "--json")
    assert r.exit_code == 0, r.output
    assert xl.calls[0] == ["block-detach", "1", "51728"]
    assert xl.calls[1] == ["block-attach", "1", "vdev=xvdb, access=rw, backendtype=phy, target=/dev/sda"]
    out = json.loads(r.output)
    assert out["takes_effect"] == "now"
    (after,) = out["reattached"]
    assert after["verdict"] == "off" and after["admin"]["data_integrity_enable"] == "0"


def test_the_toggle_is_written_as_soon_as_the_backend_reappears(host, store):
    store.add_vbd(1, 51728, "xvdb")
    FakeXl(store, host)
    assert run(host, "disable", "web", "xvdb", "--now").exit_code == 0
    writes = [v for p, v in store.committed if p.endswith(NODE)]
    assert writes == ["0", "0"]  # before the detach, and in the new backend before connect


def test_now_is_refused_on_the_root_disk_and_nothing_is_written(host, store):
    store.add_vbd(1, 51712, "xvda")
    r = run(host, "disable", "web", "xvda", "--now")
    assert r.exit_code == errors.REFUSED
    assert r.stderr == ("xendix: refusing --now on web xvda: it is the guest's root disk "
                        "(the change applies at its next boot)\n")
    assert store.committed == [] and host.run.calls == []


def test_now_is_refused_when_the_frontend_is_not_connected(host, store):
    store.add_vbd(1, 51728, "xvdb", fe_state=3)
    r = run(host, "enable", "web", "xvdb", "--now")
    assert r.exit_code == errors.REFUSED
    assert "its frontend is Initialised, not Connected" in r.stderr
    assert store.committed == []


def test_all_now_refuses_before_writing_anything(host, store):
    store.add_vbd(1, 51728, "xvdb")
    store.add_vbd(1, 51712, "xvda")
    r = run(host, "disable", "--all", "--now")
    assert r.exit_code == errors.REFUSED and store.committed == []


def test_a_failing_detach_is_reported(host, store):
    store.add_vbd(1, 51728, "xvdb")
    host.run.results["block-detach"] = (1, "libxl: device busy")
    r = run(host, "disable", "web", "xvdb", "--now")
    assert r.exit_code == errors.GENERIC
    assert r.stderr == "xendix: xl block-detach 1 51728 failed: libxl: device busy\n"


def test_the_disk_spec_keeps_access_and_a_custom_script():
    v = Vbd(1, "web", 51744, "xvdc", "be", "fe", params="/dev/vg/lv,odd", mode="r")
    assert disk_spec(v, "phy", "/etc/xen/scripts/block-iscsi") == (
        "vdev=xvdc, access=ro, backendtype=phy, script=/etc/xen/scripts/block-iscsi, target=/dev/vg/lv,odd")
