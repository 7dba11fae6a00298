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


# -- the backing disk lost or changed the profile blkback advertised ----------------

def dm_volume(sysfs, fmt="T10-DIF-TYPE1-CRC", interval=512):
    """dm-0 (253:0) over a disk with ``fmt``: a dm volume takes its table's disk's profile."""
    from .conftest import make_disk
    return make_disk(sysfs, "dm-0", 253, 0, fmt, interval=interval)


def reload_onto(dm, fmt="none", interval=0):
    """``dmsetup reload`` + ``resume`` onto another disk: the volume's profile is the new disk's."""
    (dm / "integrity" / "format").write_text(fmt + "\n")
    (dm / "integrity" / "protection_interval_bytes").write_text(f"{interval}\n")


def test_a_volume_reloaded_onto_a_plain_disk_is_profile_changed(host, store, sysfs):
    """blkback advertised dm-0's profile at connect; xenstore still says so,
    dom0's sysfs says what the volume has now."""
    dm = dm_volume(sysfs)
    store.add_vbd(1, 51728, "xvdb", params="/dev/dm-0", phys="fd:0")
    make_stats(sysfs, 1, 51728, dix_req=10, dix_rejected=0)
    (v,) = json.loads(run(host, "status", "--json").output)["vbds"]
    assert (v["backing"]["device"], v["verdict"]) == ("dm-0", "protected")
    reload_onto(dm)
    r = run(host, "status", "--json")
    assert r.exit_code == 0, r.output
    (v,) = json.loads(r.output)["vbds"]
    assert v["verdict"] == "profile-changed"
    assert v["reason"] == ("the backing disk has no T10 profile now, blkback advertised "
                           "T10-DIF-TYPE1-CRC/512 at connect: every DIX read and write fails with "
                           "EIO until the vbd reconnects; re-attach it: xendix enable DOMAIN VDEV --now")
    assert v["backend"]["profile"]["format"] == "T10-DIF-TYPE1-CRC"  # xenstore: unchanged
    assert v["frontend"]["confirmed"] is True
    assert v["backing"]["integrity"]["format"] == "none"
    row = run(host, "status", "-o", "vdev,backing,profile,verdict").output.splitlines()[1].split()
    assert row == ["xvdb", "dm-0(253:0)", "none", "profile-changed"]


def test_a_disk_with_another_format_and_interval_is_profile_changed(host, store, sysfs):
    from .conftest import make_disk
    make_disk(sysfs, "nvme0n1", 259, 0, "T10-DIF-TYPE3-IP", interval=4096)  # reformatted
    store.add_vbd(1, 51728, "xvdb", params="/dev/nvme0n1", phys="103:0")
    (v,) = json.loads(run(host, "status", "--json").output)["vbds"]
    assert v["verdict"] == "profile-changed"
    assert v["reason"].startswith("the backing disk's profile is T10-DIF-TYPE3-IP/4096 now, blkback "
                                  "advertised T10-DIF-TYPE1-CRC/512 at connect")


def test_the_same_format_with_another_interval_is_profile_changed(host, store, sysfs):
    dm = dm_volume(sysfs)
    store.add_vbd(1, 51728, "xvdb", params="/dev/dm-0", phys="fd:0")
    reload_onto(dm, "T10-DIF-TYPE1-CRC", 4096)
    (v,) = json.loads(run(host, "status", "--json").output)["vbds"]
    assert v["verdict"] == "profile-changed"
    assert "T10-DIF-TYPE1-CRC/4096 now" in v["reason"]


def test_a_disk_that_still_has_the_advertised_profile_stays_protected(host, store, sysfs):
    dm = dm_volume(sysfs)
    store.add_vbd(1, 51728, "xvdb", params="/dev/dm-0", phys="fd:0")
    reload_onto(dm, "T10-DIF-TYPE1-CRC", 512)  # onto another disk with the same profile
    (v,) = json.loads(run(host, "status", "--json").output)["vbds"]
    assert v["verdict"] == "protected"


def test_a_disk_dom0_does_not_find_keeps_the_verdict_xenstore_gives(host, store):
    store.add_vbd(1, 51728, "xvdb", params="/dev/nosuch", phys="7:0")  # no 7:0 in sysfs
    (v,) = json.loads(run(host, "status", "--json").output)["vbds"]
    assert (v["backing"], v["verdict"]) == (None, "protected")
