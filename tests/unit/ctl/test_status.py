"""xendix status: the model of each vbd, its table row and its JSON."""

import json

from click.testing import CliRunner

from xendix.cli import main

from .conftest import make_stats


def run(host, *args):
    return CliRunner().invoke(main, list(args), obj=host)


def test_a_protected_disk_shows_everything_dom0_knows(host, store, sysfs):
    store.add_vbd(1, 51728, "xvdb")
    make_stats(sysfs, 1, 51728, rd_req=5, wr_req=7, dix_req=12, dix_err=1)
    r = run(host, "status", "--json")
    assert r.exit_code == 0, r.output
    (v,) = json.loads(r.output)["vbds"]
    assert (v["domain"], v["domid"], v["vdev"], v["devid"], v["name"]) == ("web", 1, "xvdb", 51728, "vbd-1-51728")
    assert v["backend"]["state"] == 4 and v["backend"]["state_name"] == "Connected"
    assert v["frontend"]["state_name"] == "Connected"
    assert v["backend"]["feature_data_integrity"] == "1"
    assert v["backend"]["profile"] == {"format": "T10-DIF-TYPE1-CRC", "interval": 512,
                                       "tuple_size": 8, "tag_size": 2}
    assert (v["backend"]["type"], v["backend"]["domid"], v["backend"]["domain"]) == ("vbd", 0, "Domain-0")
    assert v["frontend"]["feature_data_integrity"] == "1"
    assert v["frontend"]["confirmed_format"] == "T10-DIF-TYPE1-CRC" and v["frontend"]["confirmed"] is True
    assert v["backing"]["device"] == "sda" and v["backing"]["devnum"] == "8:0"
    assert v["backing"]["integrity"] == {"format": "T10-DIF-TYPE1-CRC", "interval": 512, "tag_size": 2,
                                         "capable": True, "known": True}
    assert v["admin"] == {"data_integrity_enable": None, "enabled": True}
    assert v["verdict"] == "protected"
    assert v["stats"] == {"dix_err": 1, "dix_req": 12, "oo_req": 0, "rd_req": 5, "wr_req": 7}


def test_the_table_has_one_row_per_vbd_with_its_verdict(host, store, sysfs):
    store.add_domain(2, "db")
    store.add_vbd(1, 51728, "xvdb")
    store.add_vbd(2, 51728, "xvdb", params="/dev/ram1", phys="1:1", advertised="0")
    store.add_vbd(2, 51744, "xvdc", advertised="0", admin="0")
    r = run(host, "status", "-o", "domain,id,vdev,devid,backend,frontend,backing,profile,admin,adv,"
            "neg,verdict,why")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].split() == ["DOMAIN", "ID", "VDEV", "DEVID", "BACKEND", "FRONTEND", "BACKING",
                                "PROFILE", "ADMIN", "ADV", "NEG", "VERDICT", "WHY"]
    rows = [l.split() for l in lines[1:4]]
    assert [(r[0], r[2], r[11]) for r in rows] == [
        ("web", "xvdb", "protected"), ("db", "xvdb", "unsupported-disk"), ("db", "xvdc", "off")]
    assert rows[0][6] == "sda(8:0)" and rows[0][7] == "T10-DIF-TYPE1-CRC/512/2"
    assert rows[1][6] == "ram1(1:1)" and rows[1][7] == "none"
    assert rows[0][8] == "on*" and rows[2][8] == "off"
    assert lines[-1] == "(ADMIN *: data-integrity-enable not set, default on)"


def test_the_default_note_only_when_a_toggle_is_unset(host, store):
    store.add_vbd(1, 51728, "xvdb", admin="1")
    assert "ADMIN *" not in run(host, "status").output


def test_status_narrows_to_a_domain_and_a_vdev(host, store):
    store.add_vbd(1, 51728, "xvdb")
    store.add_vbd(1, 51744, "xvdc")
    assert len(json.loads(run(host, "status", "web", "--json").output)["vbds"]) == 2
    (v,) = json.loads(run(host, "status", "web", "xvdc", "--json").output)["vbds"]
    assert v["devid"] == 51744
    (v,) = json.loads(run(host, "status", "1", "51744", "--json").output)["vbds"]
    assert v["vdev"] == "xvdc"


def test_no_vbd_is_said_plainly(host):
    r = run(host, "status")
    assert r.exit_code == 0 and r.output.strip() == "no vbd"
    assert json.loads(run(host, "status", "--json").output) == {"vbds": []}


def test_physical_device_is_hex_major_minor(host, store, sysfs):
    from .conftest import make_disk
    make_disk(sysfs, "sdb", 8, 16, "T10-DIF-TYPE3-IP", interval=4096)
    store.add_vbd(1, 51728, "xvdb", params="/dev/sdb", phys="8:10")
    (v,) = json.loads(run(host, "status", "--json").output)["vbds"]
    assert v["backing"]["device"] == "sdb"
    assert v["backing"]["integrity"]["format"] == "T10-DIF-TYPE3-IP"


def test_without_physical_device_the_params_path_names_the_disk(host, store):
    store.add_vbd(1, 51728, "xvdb", params="/dev/sda", phys=None, be_state=2, fe_state=1)
    (v,) = json.loads(run(host, "status", "--json").output)["vbds"]
    assert v["backing"]["device"] == "sda"
    assert v["verdict"] == "not-connected"


def test_a_partition_has_its_disks_profile(host, store, sysfs):
    from .conftest import make_disk
    make_disk(sysfs, "sdc", 8, 32, "T10-DIF-TYPE1-IP", parts=2)
    store.add_vbd(1, 51728, "xvdb", params="/dev/sdc2", phys="8:22")
    (v,) = json.loads(run(host, "status", "--json").output)["vbds"]
    assert (v["backing"]["device"], v["backing"]["disk"]) == ("sdc2", "sdc")
    assert v["backing"]["integrity"]["format"] == "T10-DIF-TYPE1-IP"


def test_devices_lists_dom0_disks_with_profile_and_users(host, store):
    store.add_vbd(1, 51728, "xvdb")
    r = run(host, "devices", "--json")
    assert r.exit_code == 0, r.output
    devs = {d["device"]: d for d in json.loads(r.output)["devices"]}
    assert set(devs) == {"sda", "ram1"}
    assert devs["sda"]["integrity"]["known"] is True and devs["sda"]["used_by"] == ["web:xvdb"]
    assert devs["ram1"]["integrity"]["format"] == "none" and devs["ram1"]["used_by"] == []
    table = run(host, "devices").output.splitlines()
    assert table[0].split() == ["DEVICE", "DEVNUM", "SIZE_MIB", "INTEGRITY", "CAPABLE", "USED_BY"]
    assert table[2].split() == ["sda", "8:0", "64", "T10-DIF-TYPE1-CRC/512/2", "yes", "web:xvdb"]


def test_the_json_shape_of_a_vbd_is_stable(host, store):
    store.add_vbd(1, 51728, "xvdb", phys=None, params="phy-less")
    (v,) = json.loads(run(host, "status", "--json").output)["vbds"]
    assert sorted(v) == ["admin", "backend", "backing", "devid", "domain", "domid", "frontend", "name",
                         "reason", "stats", "vdev", "verdict"]
    assert sorted(v["backend"]) == ["domain", "domid", "feature_data_integrity", "mode", "params", "path",
                                    "physical_device", "profile", "state", "state_name", "type"]
    assert sorted(v["frontend"]) == ["confirmed", "confirmed_format", "feature_data_integrity", "path",
                                     "state", "state_name"]
    assert v["backing"] is None and v["stats"] == {}
    assert v["verdict"] == "protected"  # what the two ends negotiated, whatever dom0 can see
