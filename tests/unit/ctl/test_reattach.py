"""--now: detach, pause, attach with libxl's config, toggle, unpause.

A fake xl and a fake guest record one sequence of xl calls and xenstore
writes.  The guest's blkfront connects as soon as it can: at block-attach
when the guest runs, at unpause when it is paused.  blkback reads the
toggle at that moment, so a toggle that is not in place yet is missed.
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from click.testing import CliRunner

from xendix import errors
from xendix.cli import main
from xendix.libxl import DiskConfigError, disk_spec, domain_disks, find_disk

from .conftest import BE

NODE = "data-integrity-enable"
TOGGLE = f"{BE}/1/51728/{NODE}"

# What `xl list -l 1` prints for the lab's ctl1 (Xen 4.17): the disks went
# through libxl's setdefault at creation, so the defaults are spelled out.
LAB_XVDB = {"pdev_path": "/dev/sdb", "vdev": "xvdb", "backend": "phy", "format": "raw",
            "script": "/lab/dom0/vbd-hotplug", "readwrite": 1, "discard_enable": "True",
            "specification": "xen", "colo_enable": "False", "colo_restore_enable": "False",
            "trusted": "True"}
# A disk with every field the spec can say set away from its default.
RICH = {"backend_domid": 3, "backend_domname": "storage", "pdev_path": "/srv/img/web,data.qcow2",
        "vdev": "xvdc", "backend": "qdisk", "format": "qcow2", "script": "/etc/xen/scripts/block-dr",
        "readwrite": 1, "direct_io_safe": True, "discard_enable": "False",
        "specification": "xen", "colo_enable": "True", "colo_restore_enable": "False",
        "colo_host": "10.0.0.2", "colo_port": 9000, "colo_export": "exp1",
        "active_disk": "/a.qcow2", "hidden_disk": "/h.qcow2", "trusted": "False"}
CDROM = {"pdev_path": "/iso/d.iso", "vdev": "hdc", "format": "raw", "removable": 1,
         "is_cdrom": 1, "backend_domid": 2}


def xl_list(*disks: dict, domid: int = 1) -> str:
    """`xl list -l DOMID` as xl prints it: an array of {domid, config}."""
    return json.dumps([{"domid": domid, "config": {
        "c_info": {"type": "pv", "name": "web"}, "b_info": {"max_vcpus": 1},
        "disks": list(disks), "nics": [], "on_reboot": "restart"}}], indent=4)


# -- the libxl config -> the disk spec ---------------------------------------

def parse_spec(spec: str) -> dict:
    """The libxl disk xl's parser makes of a keyed spec (libxlu_disk_l.l,
    4.17), in `xl list -l`'s JSON form: the test's own reading of the spec."""
    disk: dict = {}
    target = re.search(r"(?:^|,)target=(.*)$", spec)
    head = spec[:target.start()] if target else spec
    if target:
        disk["pdev_path"] = target[1]
    flags = {"direct-io-safe": ("direct_io_safe", True), "discard": ("discard_enable", "True"),
             "no-discard": ("discard_enable", "False"), "colo": ("colo_enable", "True"),
             "no-colo": ("colo_enable", "False"), "trusted": ("trusted", "True"),
             "untrusted": ("trusted", "False")}
    keys = {"vdev": "vdev", "format": "format", "backendtype": "backend", "script": "script",
            "specification": "specification", "colo-host": "colo_host",
            "colo-export": "colo_export", "active-disk": "active_disk", "hidden-disk": "hidden_disk"}
    for word in filter(None, head.split(",")):
        key, eq, value = word.partition("=")
        if not eq:
            field, v = flags[key]
            disk[field] = v
        elif key in keys:
            disk[keys[key]] = value
        elif key == "access":
            disk["readwrite"] = 1 if value in ("rw", "w") else 0
        elif key == "devtype" and value == "cdrom":
            disk.update(is_cdrom=1, removable=1, readwrite=0)
        elif key == "backend":
            disk["backend_domname"] = value
        elif key == "colo-port":
            disk["colo_port"] = int(value)
        else:
            raise AssertionError(f"xl would refuse {word!r}")
    if not disk.get("readwrite"):
        disk.pop("readwrite", None)
    return disk


def comparable(disk: dict) -> dict:
    """What a re-attach must keep: all but the backend's domid when it has a
    name (libxl resolves the name to it) and the defaults xl also leaves out."""
    d = {k: v for k, v in disk.items() if v not in (0, False, "<default>", "unknown")}
    if d.get("backend_domname"):
        d.pop("backend_domid", None)
    elif "backend_domid" in d:
        d["backend_domname"] = str(d.pop("backend_domid"))
    d.pop("colo_restore_enable", None)  # "False": libxl's default, no spec key
    return d


@pytest.mark.parametrize("disk, spec", [
    (LAB_XVDB, "vdev=xvdb,access=rw,format=raw,backendtype=phy,script=/lab/dom0/vbd-hotplug,"
               "discard,no-colo,trusted,specification=xen,target=/dev/sdb"),
    (RICH, "vdev=xvdc,access=rw,format=qcow2,backendtype=qdisk,backend=storage,"
           "script=/etc/xen/scripts/block-dr,direct-io-safe,no-discard,colo,untrusted,"
           "specification=xen,colo-host=10.0.0.2,colo-export=exp1,active-disk=/a.qcow2,"
           "hidden-disk=/h.qcow2,colo-port=9000,target=/srv/img/web,data.qcow2"),
    (CDROM, "vdev=hdc,access=ro,format=raw,devtype=cdrom,backend=2,target=/iso/d.iso"),
    ({"pdev_path": "/dev/vg/lv", "vdev": "51728", "readwrite": 0},
     "vdev=51728,access=ro,target=/dev/vg/lv"),
], ids=["lab", "every-field", "cdrom", "minimal"])
def test_the_disk_spec_carries_the_libxl_config(disk, spec):
    assert disk_spec(disk) == spec
    assert parse_spec(spec) == comparable(disk)


OTHER = {"backend_domname": "dd2", "pdev_path": "/dev/vg/other", "vdev": "xvdz", "backend": "phy",
         "format": "vhd", "script": "/lab/other-script", "readwrite": 0, "direct_io_safe": False,
         "discard_enable": "<default>", "specification": "unknown", "colo_enable": "False",
         "colo_host": "10.9.9.9", "colo_port": 7, "colo_export": "exp2", "active_disk": "/a2",
         "hidden_disk": "/h2", "trusted": "True"}


@pytest.mark.parametrize("field", sorted(OTHER))
def test_each_field_of_the_config_reaches_the_spec(field):
    """Changing any one field changes the spec the way xl reads it."""
    changed = {**RICH, field: OTHER[field]}
    assert parse_spec(disk_spec(changed)) == comparable(changed)
    assert disk_spec(changed) != disk_spec(RICH)


@pytest.mark.parametrize("disk, why", [
    ({**LAB_XVDB, "specification": "virtio", "transport": "mmio"}, "virtio"),
    ({**LAB_XVDB, "vhost_user": "x"}, "vhost_user"),
    ({**LAB_XVDB, "script": "/s,x"}, "script"),
    ({**LAB_XVDB, "pdev_path": "/dev/sdb,"}, "pdev_path"),
    ({**LAB_XVDB, "colo_restore_enable": "True"}, "colo_restore_enable"),
    ({**LAB_XVDB, "removable": 1}, "removable"),
    ({**LAB_XVDB, "format": "vmdk"}, "format"),
    ({k: v for k, v in LAB_XVDB.items() if k != "pdev_path"}, "pdev_path"),
])
def test_a_config_the_spec_cannot_say_is_refused(disk, why):
    with pytest.raises(DiskConfigError, match=why):
        disk_spec(disk)


def test_the_disk_is_found_by_devid_whatever_its_spelling():
    disks = domain_disks(xl_list(CDROM, {**LAB_XVDB, "vdev": "51728"}), 1)
    assert find_disk(disks, 51728)["pdev_path"] == "/dev/sdb"
    assert find_disk(disks, 51744) is None
    with pytest.raises(errors.XendixError, match="no domain 2"):
        domain_disks(xl_list(LAB_XVDB), 2)
    with pytest.raises(errors.XendixError, match="did not print JSON"):
        domain_disks("(domain (domid 1))", 1)


# -- the order: detach, pause, attach, toggle, unpause -------------------------

class FakeXl:
    """xl and the guest.  ``log`` holds ("xl", verb) and ("write", path, value)
    in the order they happened; ``read`` the toggle blkback found when the
    frontend connected."""

    def __init__(self, store, host, *disks: dict, fail: dict | None = None,
                 backend_appears: bool = True, write_fails: bool = False) -> None:
        self.store, self.log, self.read, self.specs = store, [], [], []
        self.paused, self.fail = 0, dict(fail or {})
        self.backend_appears, self.write_fails = backend_appears, write_fails
        self.listing = xl_list(*(disks or (LAB_XVDB,)))
        host.run = self
        land = store._land

        def logged_land(path, value):
            if path.endswith(NODE):
                self.log.append(("write", path, value))
            land(path, value)
        store._land = logged_land

    def __call__(self, argv, timeout):
        assert argv[0] == "xl" and timeout > 0
        verb = argv[1]
        self.log.append(("xl", verb))
        if verb in self.fail:
            return subprocess.CompletedProcess(argv, 1, "", self.fail[verb])
        out = getattr(self, verb.replace("-", "_"))(argv[2:]) or ""
        return subprocess.CompletedProcess(argv, 0, out, "")

    def list(self, args):
        return self.listing

    def block_detach(self, args):
        domid, devid = args
        for n in [n for n in self.store.nodes if n.startswith(f"{BE}/{domid}/{devid}/")
                  or n.startswith(f"/local/domain/{domid}/device/vbd/{devid}/")]:
            del self.store.nodes[n]

    def pause(self, args):
        self.paused += 1

    def unpause(self, args):
        self.paused -= 1
        self.connect()

    def block_attach(self, args):
        self.specs.append(args[1])
        if self.backend_appears:  # libxl's transaction: no toggle in it
            self.store.add_vbd(1, 51728, "xvdb", be_state=2, fe_state=1, advertised=None,
                               negotiated=None)
        if self.write_fails:
            self.store.conflicts = 10_000
        self.connect()

    def connect(self):
        """The guest's blkfront reaches Initialised if it runs and has a backend;
        blkback's connect() reads the toggle then."""
        be = f"{BE}/1/51728"
        if self.paused or self.store.nodes.get(f"{be}/state") != "2":
            return
        toggle = self.store.nodes.get(f"{be}/{NODE}")
        self.read.append(toggle)
        self.store.add_vbd(1, 51728, "xvdb", advertised="0" if toggle == "0" else "1",
                           admin=toggle)

    def order(self):
        return [e[1] if e[0] == "xl" else ("write", e[2]) for e in self.log]


def run(host, *args):
    return CliRunner().invoke(main, list(args), obj=host)


def test_disable_now_writes_the_toggle_while_the_guest_is_paused(host, store):
    store.add_vbd(1, 51728, "xvdb")
    xl = FakeXl(store, host)
    r = run(host, "disable", "web", "xvdb", "--now", "--json")
    assert r.exit_code == 0, r.output
    assert xl.order() == ["list", ("write", "0"), "block-detach", "pause", "block-attach",
                          ("write", "0"), "unpause"]
    assert xl.read == ["0"]  # blkback found the toggle when the frontend connected
    assert xl.specs == [disk_spec(LAB_XVDB)]
    out = json.loads(r.output)
    (after,) = out["reattached"]
    assert after["verdict"] == "off" and after["admin"]["data_integrity_enable"] == "0"


def test_enable_now_gives_the_profile_back(host, store):
    store.add_vbd(1, 51728, "xvdb", advertised="0", admin="0")
    xl = FakeXl(store, host)
    r = run(host, "enable", "web", "xvdb", "--now", "--json")
    assert r.exit_code == 0, r.output
    assert xl.read == ["1"] and json.loads(r.output)["reattached"][0]["verdict"] == "protected"


def test_block_attach_gets_the_whole_libxl_config(host, store):
    store.add_vbd(1, 51728, "xvdb")
    xl = FakeXl(store, host, CDROM, {**RICH, "vdev": "xvdb"})
    assert run(host, "disable", "web", "xvdb", "--now").exit_code == 0
    assert [parse_spec(s) for s in xl.specs] == [comparable({**RICH, "vdev": "xvdb"})]


@pytest.mark.parametrize("fault, message", [
    (dict(fail={"block-attach": "libxl: hotplug script failed"}),
     "xl block-attach 1 .* failed: libxl: hotplug script failed; web xvdb stays detached"),
    (dict(backend_appears=False), "no backend directory 30s after block-attach"),
    (dict(write_fails=True), "still conflicting"),
])
def test_the_guest_is_unpaused_on_every_error(host, store, fault, message):
    store.add_vbd(1, 51728, "xvdb")
    xl = FakeXl(store, host, **fault)
    r = run(host, "disable", "web", "xvdb", "--now")
    assert r.exit_code == errors.GENERIC
    assert re.search(message, r.stderr), r.stderr
    assert xl.order()[-1] == "unpause" and xl.paused == 0


def test_an_interrupt_while_paused_unpauses_too(host, store):
    store.add_vbd(1, 51728, "xvdb")
    xl = FakeXl(store, host)
    xl.block_attach = lambda args: (_ for _ in ()).throw(KeyboardInterrupt)
    r = run(host, "disable", "web", "xvdb", "--now")
    assert r.exit_code == errors.INTERRUPTED
    assert xl.order()[-2:] == ["block-attach", "unpause"] and xl.paused == 0


def test_a_failing_unpause_says_the_guest_is_still_paused(host, store):
    store.add_vbd(1, 51728, "xvdb")
    FakeXl(store, host, fail={"unpause": "xc: EPERM"})
    r = run(host, "disable", "web", "xvdb", "--now")
    assert r.exit_code == errors.GENERIC
    assert r.stderr == ("xendix: xl unpause 1 failed: xc: EPERM: domain 1 is still paused, "
                        "run 'xl unpause 1'\n")


def test_a_failing_pause_attaches_nothing(host, store):
    store.add_vbd(1, 51728, "xvdb")
    xl = FakeXl(store, host, fail={"pause": "busy"})
    r = run(host, "disable", "web", "xvdb", "--now")
    assert r.exit_code == errors.GENERIC and "web xvdb stays detached" in r.stderr
    assert "block-attach" not in xl.order() and "unpause" not in xl.order()


def test_a_failing_detach_is_reported_and_nothing_is_paused(host, store):
    store.add_vbd(1, 51728, "xvdb")
    xl = FakeXl(store, host, fail={"block-detach": "libxl: device busy"})
    r = run(host, "disable", "web", "xvdb", "--now")
    assert r.exit_code == errors.GENERIC
    assert r.stderr == "xendix: xl block-detach 1 51728 failed: libxl: device busy\n"
    assert xl.order()[-1] == "block-detach"


def test_a_disk_the_spec_cannot_carry_is_refused_before_any_write(host, store):
    store.add_vbd(1, 51728, "xvdb")
    xl = FakeXl(store, host, {**LAB_XVDB, "vhost_user": "/run/x"})
    r = run(host, "disable", "web", "xvdb", "--now")
    assert r.exit_code == errors.REFUSED
    assert "refusing --now on web xvdb: xl block-attach cannot re-create this disk" in r.stderr
    assert xl.order() == ["list"] and store.committed == []


def test_a_disk_missing_from_xl_list_fails_before_any_write(host, store):
    store.add_vbd(1, 51728, "xvdb")
    xl = FakeXl(store, host, CDROM)
    r = run(host, "disable", "web", "xvdb", "--now")
    assert r.exit_code == errors.GENERIC and "has no disk xvdb" in r.stderr
    assert xl.order() == ["list"] and store.committed == []


def test_every_xl_call_has_a_deadline(host, store):
    store.add_vbd(1, 51728, "xvdb")
    xl = FakeXl(store, host)

    def hang(args):
        raise subprocess.TimeoutExpired(["xl", "block-attach"], 120)
    xl.block_attach = hang
    r = run(host, "disable", "web", "xvdb", "--now")
    assert "xl block-attach 1 " in r.stderr and "took over 120s" in r.stderr
    assert xl.paused == 0


# -- refusals ---------------------------------------------------------------

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


def test_the_fake_catches_a_toggle_written_too_late(host, store):
    """The fake's own check: without the pause the frontend connects at
    block-attach and blkback misses the toggle."""
    store.add_vbd(1, 51728, "xvdb")
    xl = FakeXl(store, host)
    xl.pause = lambda args: None
    xl.unpause = lambda args: None
    run(host, "disable", "web", "xvdb", "--now")
    assert xl.read == [None]
