"""``xendix status`` answers for every guest disk, whatever serves it: dom0's
blkback, QEMU's qdisk, vbd3, or blkback in a driver domain.  A disk that no
blkback serves cannot carry PI, and says so."""

import json

import pytest

from xendix import errors
from xendix.toggle import write_toggles

from .conftest import make_stats
from .test_status import run


def serve(store, domid: int, devid: int, vdev: str, kind: str = "vbd", backend_domid: int = 0,
          **vbd) -> str:
    """A guest disk (add_vbd's nodes) whose backend is ``kind`` in ``backend_domid``:
    the backend directory and the frontend's ``backend`` node name each other."""
    old = store.add_vbd(domid, devid, vdev, **vbd)
    new = f"/local/domain/{backend_domid}/backend/{kind}/{domid}/{devid}"
    for node in [n for n in store.nodes if n.startswith(old + "/")]:
        store.nodes[new + node[len(old):]] = store.nodes.pop(node)
    store.nodes[f"/local/domain/{domid}/device/vbd/{devid}/backend"] = new
    return new


def qdisk(store, domid: int, devid: int, vdev: str, kind: str = "qdisk", **vbd) -> str:
    """A disk QEMU (or another backend without DIX) serves: no DIX nodes at all."""
    return serve(store, domid, devid, vdev, kind, advertised=None, negotiated=None, phys=None, **vbd)


def status_json(host, *args) -> list[dict]:
    r = run(host, "status", *args, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.output)["vbds"]


@pytest.mark.parametrize("kind, why", [("qdisk", "qdisk (QEMU) backend: no DIX support"),
                                       ("vbd3", "vbd3 (tapdisk3) backend: no DIX support")])
def test_a_disk_no_blkback_serves_is_listed_as_unsupported_backend(host, store, kind, why):
    be = qdisk(store, 1, 51744, "xvdc", kind, params="aio:/var/lib/xen/web.img")
    (v,) = status_json(host)
    assert (v["domain"], v["vdev"], v["verdict"], v["reason"]) == ("web", "xvdc", "unsupported-backend", why)
    assert v["backend"]["path"] == be and v["backend"]["type"] == kind
    assert (v["backend"]["domid"], v["backend"]["domain"]) == (0, "Domain-0")
    assert v["backend"]["state_name"] == "Connected" and v["backend"]["params"] == "aio:/var/lib/xen/web.img"
    row = run(host, "status", "-o", "vdev,backend,verdict").output.splitlines()[1].split()
    assert row == ["xvdc", f"{kind}:Connected", "unsupported-backend"]


def test_every_guest_disk_is_in_one_table_whatever_serves_it(host, store):
    store.add_domain(2, "db")
    store.add_domain(3, "storage")
    store.add_vbd(1, 51728, "xvdb")
    qdisk(store, 1, 51744, "xvdc")
    serve(store, 2, 51728, "xvdb", backend_domid=3)
    qdisk(store, 2, 51744, "xvdc", backend_domid=3)
    found = [(v["domain"], v["vdev"], v["backend"]["type"], v["backend"]["domid"], v["verdict"])
             for v in status_json(host)]
    assert found == [("web", "xvdb", "vbd", 0, "protected"),
                     ("web", "xvdc", "qdisk", 0, "unsupported-backend"),
                     ("db", "xvdb", "vbd", 3, "protected"),
                     ("db", "xvdc", "qdisk", 3, "unsupported-backend")]
    rows = [r.split() for r in run(host, "status", "-o", "domain,vdev,backend,verdict").output.splitlines()]
    assert [r[2] for r in rows[1:]] == ["Connected", "qdisk:Connected", "vbd@3:Connected",
                                       "qdisk@3:Connected"]


def test_domain_and_vdev_pick_a_disk_whatever_serves_it(host, store):
    store.add_vbd(1, 51728, "xvdb")
    qdisk(store, 1, 51744, "xvdc")
    assert [v["vdev"] for v in status_json(host, "web")] == ["xvdb", "xvdc"]
    (v,) = status_json(host, "web", "xvdc")
    assert v["verdict"] == "unsupported-backend"
    assert run(host, "status", "web", "xvdd").exit_code == errors.UNKNOWN_TARGET


def test_a_driver_domains_disk_and_counters_are_not_dom0s(host, store, sysfs):
    """physical-device 8:0 in a driver domain is its own disk, not dom0's sda;
    dom0's sysfs has no counters of its blkback."""
    store.add_domain(3, "storage")
    serve(store, 1, 51728, "xvdb", backend_domid=3, phys="8:0", params="/dev/sda")
    make_stats(sysfs, 1, 51728, dix_req=99)
    (v,) = status_json(host)
    assert (v["backend"]["domid"], v["backend"]["domain"], v["name"]) == (3, "storage", "vbd-1-51728")
    assert v["backing"] is None and v["stats"] == {}
    assert v["verdict"] == "protected"  # what the two ends negotiated in xenstore
    assert run(host, "devices", "--json").output.count("web:xvdb") == 0


def test_a_driver_domains_disk_is_not_judged_by_a_dom0_disk_of_its_number(host, store):
    """1:1 is dom0's ram1 (no profile): a driver domain's 1:1 is its own disk,
    which dom0 cannot see, so its advertised profile is not called changed."""
    store.add_domain(3, "storage")
    serve(store, 1, 51728, "xvdb", backend_domid=3, phys="1:1", params="/dev/ram1")
    (v,) = status_json(host)
    assert (v["backing"], v["verdict"]) == (None, "protected")


def test_a_driver_domain_that_advertised_nothing_is_not_blamed_on_dom0s_disks(host, store):
    store.add_domain(3, "storage")
    serve(store, 1, 51728, "xvdb", backend_domid=3, advertised="0")
    (v,) = status_json(host)
    assert v["verdict"] == "unsupported-disk"
    assert v["reason"].startswith("blkback in domain 3 advertised no DIX with the toggle on")


def test_a_driver_domain_cannot_claim_another_guests_disk(host, store):
    """Its backend directory names the guest's frontend, but the frontend does
    not name it back: it is no backend of that disk."""
    store.add_domain(3, "storage")
    store.add_vbd(1, 51728, "xvdb", negotiated="0")
    fake = "/local/domain/3/backend/vbd/1/51728"
    store.nodes.update({f"{fake}/frontend": "/local/domain/1/device/vbd/51728", f"{fake}/state": "4",
                        f"{fake}/feature-data-integrity": "1"})
    (v,) = status_json(host)
    assert (v["backend"]["domid"], v["verdict"]) == (0, "old-frontend")


def test_backends_of_other_devices_are_no_disks(host, store):
    vif = "/local/domain/0/backend/vif/1/0"
    store.nodes.update({f"{vif}/frontend": "/local/domain/1/device/vif/0", f"{vif}/state": "4",
                        "/local/domain/0/backend/console/1/0/frontend": "/local/domain/1/console"})
    store.add_vbd(1, 51728, "xvdb")
    assert [v["backend"]["type"] for v in status_json(host)] == ["vbd"]


def test_a_qdisk_on_a_dom0_disk_shows_that_disk_and_uses_it(host, store):
    qdisk(store, 1, 51744, "xvdc", params="/dev/sda")
    (v,) = status_json(host)
    assert v["backing"]["device"] == "sda" and v["verdict"] == "unsupported-backend"
    devs = {d["device"]: d for d in json.loads(run(host, "devices", "--json").output)["devices"]}
    assert devs["sda"]["used_by"] == ["web:xvdc"]


def test_the_toggle_is_only_written_for_dom0s_blkback(store):
    be = qdisk(store, 1, 51744, "xvdc")
    with pytest.raises(errors.UnknownVdev, match=f"vbd 1/51744 is served by {be}, not by dom0's blkback"):
        write_toggles(store, {(1, 51744): True})
    assert store.committed == []
