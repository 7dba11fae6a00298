"""xendix, the dom0 control plane, run for real against xenstored and udev."""

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import checks as C
import labguest as lab

s = lab.Scenario()
XVDA, XVDB, XVDC = (lab.devid(v) for v in ("xvda", "xvdb", "xvdc"))
POLICY = Path("/etc/xendix/policy.toml")
UDEV_LOG = "/run/xendix-udev.log"


xendix, summary = lab.xendix, lab.summary


def status_json(*args: str) -> list[dict]:
    p = xendix("status", "--json", *args)
    try:
        return json.loads(p.stdout)["vbds"]
    except (ValueError, KeyError):
        s.fact(f"status_failed_{len(s.facts)}", summary(p))
        return []


def by_devid(vbds: list[dict]) -> dict[int, dict]:
    return {v["devid"]: v for v in vbds}


def xs_tree(path: str) -> str:
    return lab.sh("xenstore-ls", "-f", path, check=False, timeout=20).stdout


def start(name: str, disks: list[str], script: str, phase: str, what: str) -> lab.Domu:
    """Create a domU and wait until its script says it is ready for ``phase``."""
    domu = lab.Domu(name, disks, script)
    domu.start()
    if not s.check(C.domu_is_up(what),
                   domu.wait_record("ready", 300, phase=phase) is not None,
                   create_error=domu.run.create_error):
        raise RuntimeError(f"the {what} domU never said it was ready")
    return domu


HOSTILE = {"feature-data-integrity": b"1\xff",
           "data-integrity-format": b"\x1b[2K\r... protected\x07"}


def hostile_nodes(frontend: str) -> None:
    """What a hostile guest can do: write bytes that are not UTF-8, and
    terminal escapes, into its own frontend nodes (dom0 writes them here,
    into the same nodes the guest owns)."""
    for node, value in HOSTILE.items():
        subprocess.run([b"xenstore-write", f"{frontend}/{node}".encode(), value],
                       check=True, timeout=20)


def stalled_status(deadline_s: float) -> dict:
    """``xendix status`` while oxenstored is stopped (SIGSTOP): it must end
    by itself at its xenstore deadline.  oxenstored is always continued."""
    pid = lab.read("/run/xenstored.pid").strip()
    start = time.monotonic()
    os.kill(int(pid), signal.SIGSTOP)
    try:
        p = xendix("status", env={"XENDIX_XENSTORE_TIMEOUT": str(deadline_s)}, timeout=60)
    finally:
        os.kill(int(pid), signal.SIGCONT)
    return {"rc": p.returncode, "seconds": round(time.monotonic() - start, 1),
            "stdout": p.stdout[-500:], "stderr": p.stderr[-500:]}


def one_line(p: subprocess.CompletedProcess) -> bool:
    err = p.stderr.strip()
    return err.startswith("xendix: ") and "\n" not in err


# -- disks: a DIX disk, a plain RAM disk and the mailbox ---------------------
lab.sh("modprobe", "brd", "rd_nr=2", "rd_size=16384")
lab.wait_until(lambda: Path("/dev/ram1").exists(), 10)
disk = lab.scsi_debug(dev_size_mb=32, dif=1, dix=1)
box = lab.mailbox()  # /dev/ram0
plain = "/dev/ram1"
dom0_profile = s.fact("dom0_profile", lab.integrity(disk))
s.fact("plain_profile", lab.integrity(plain))

try:
    # -- Part 1: status, then disable/enable --now --------------------------
    domu = start("ctl1", [lab.lean_disk(plain, "xvda"), lab.lean_disk(disk, "xvdb"), lab.lean_disk(box, "xvdc")],
                 "domu-ctl-toggle.sh", "initial", "toggle")
    domid = domu.domid
    guest0 = (domu.wait_record("profile", 5, phase="initial") or {})
    table = xendix("status")
    s.fact("xendix_status_table", table.stdout)
    s.check(C.STATUS_RUNS_AS_ROOT, table.returncode == 0, run=summary(table))
    vbds = by_devid(status_json())
    s.fact("xendix_status_json_xvdb", vbds.get(XVDB))
    xvdb = vbds.get(XVDB, {})
    s.check(C.STATUS_LISTS_THREE_VBDS,
            {d: v["vdev"] for d, v in vbds.items()} == {XVDA: "xvda", XVDB: "xvdb", XVDC: "xvdc"},
            vbds=sorted(vbds))
    s.check(C.STATUS_NAMES_BACKING_AND_PROFILE,
            (xvdb.get("backing") or {}).get("device") == Path(disk).name
            and xvdb["backing"]["integrity"]["format"] == dom0_profile["format"], xvdb=xvdb)
    guest_has = guest0.get("format", "none") != "none"
    s.check(C.STATUS_JSON_MATCHES_THE_DOMU,
            (xvdb.get("verdict") == "protected") == guest_has and (
                not guest_has or xvdb["backend"]["profile"]["format"] == guest0.get("format")),
            domu=guest0, verdict=xvdb.get("verdict"), backend=xvdb.get("backend"))
    s.check(C.STATUS_XVDB_PROTECTED, xvdb.get("verdict") == "protected",
            verdict=xvdb.get("verdict"), reason=xvdb.get("reason"))
    s.check(C.STATUS_RAM_DISKS_UNSUPPORTED,
            [vbds.get(d, {}).get("verdict") for d in (XVDA, XVDC)] == ["unsupported-disk"] * 2,
            verdicts=[vbds.get(d, {}).get("verdict") for d in (XVDA, XVDC)])

    devs = xendix("devices", "--json")
    try:
        dev_rows = {d["device"]: d for d in json.loads(devs.stdout)["devices"]}
    except (ValueError, KeyError):
        dev_rows = {}
    s.fact("xendix_devices", {k: dev_rows.get(Path(k).name) for k in (disk, plain)})
    dix_row, plain_row = dev_rows.get(Path(disk).name, {}), dev_rows.get("ram1", {})
    s.check(C.DEVICES_SHOWS_CAPABILITY_AND_USERS,
            dix_row.get("integrity", {}).get("known") is True and dix_row.get("used_by") == ["ctl1:xvdb"]
            and plain_row.get("integrity", {}).get("known") is False
            and plain_row.get("used_by") == ["ctl1:xvda"], run=summary(devs))

    # Errors, while everything is connected: exit code, one line, no write.
    be_tree = f"/local/domain/0/backend/vbd/{domid}"
    before = xs_tree(be_tree)
    ctl_copy = Path("/tmp/xendix-ctl")
    shutil.copytree("/lab/ctl", ctl_copy, dirs_exist_ok=True)
    lab.sh("chmod", "-R", "a+rX", str(ctl_copy))
    bad_policy = Path("/tmp/bad-policy.toml")
    bad_policy.write_text('[default]\ndix = "sometimes"\n')
    errors = {
        "not root": (xendix("disable", "ctl1", "xvdb", nobody=True,
                            env={"PYTHONPATH": str(ctl_copy)}), 3),
        "no xenstored": (xendix("disable", "ctl1", "xvdb",
                                env={"XENSTORED_PATH": "/run/no-xenstored/socket"}), 4),
        "unknown domain": (xendix("disable", "nosuch", "xvdb"), 6),
        "unknown vdev": (xendix("disable", "ctl1", "xvdq"), 6),
        "malformed policy": (xendix("apply", "--policy", str(bad_policy), "ctl1", "xvdb"), 7),
        "--now on the root disk": (xendix("disable", "ctl1", "xvda", "--now"), 8),
    }
    for name, (p, code) in errors.items():
        s.check(C.error_exit_code(name, code),
                p.returncode == code and one_line(p), run=summary(p))
    after = xs_tree(be_tree)
    s.check(C.NO_ERROR_WROTE_TO_XENSTORE, before == after and "data-integrity-enable" not in after,
            before=before[-1500:], after=after[-1500:])

    # A monitor sees the re-attach.
    mon_out = open("/run/xendix-monitor.jsonl", "w")
    monitor = subprocess.Popen(["python3", "-u", "-m", "xendix", "monitor", "--json", "--timeout", "400"],
                               stdout=mon_out, stderr=subprocess.STDOUT, cwd="/")
    time.sleep(3)

    off = xendix("disable", "ctl1", "xvdb", "--now", "--json")
    s.fact("disable_now", summary(off))
    s.check(C.DISABLE_NOW_SUCCEEDS, off.returncode == 0, run=summary(off))
    s.check(C.TOGGLE_IS_0_IN_THE_BACKEND,
            lab.xs_read(f"{domu.backend()}/data-integrity-enable") == "0")
    xvdb_off = by_devid(status_json("ctl1", "xvdb")).get(XVDB, {})
    s.fact("status_after_disable", {k: xvdb_off.get(k) for k in ("verdict", "reason", "admin")})
    lab.signal(box, "disabled")
    domu.wait_record("ready", 120, phase="disabled")
    guest_off = domu.wait_record("profile", 5, phase="disabled") or {}
    s.check(C.DISABLE_NOW_TAKES_THE_PROFILE,
            guest_off.get("format") == "none" and xvdb_off.get("verdict") == "off",
            domu=guest_off, verdict=xvdb_off.get("verdict"))

    on = xendix("enable", "ctl1", "xvdb", "--now", "--json")
    s.fact("enable_now", summary(on))
    s.check(C.ENABLE_NOW_SUCCEEDS, on.returncode == 0, run=summary(on))
    xvdb_on = by_devid(status_json("ctl1", "xvdb")).get(XVDB, {})
    lab.signal(box, "enabled")
    domu.wait_record("ready", 120, phase="enabled")
    guest_on = domu.wait_record("profile", 5, phase="enabled") or {}
    s.check(C.ENABLE_NOW_GIVES_IT_BACK,
            guest_on.get("format") == dom0_profile["format"] and xvdb_on.get("verdict") == "protected",
            domu=guest_on, verdict=xvdb_on.get("verdict"), reason=xvdb_on.get("reason"))

    monitor.terminate()
    try:
        monitor.wait(10)
    except subprocess.TimeoutExpired:
        monitor.kill()
    mon_out.close()
    events = []
    for line in Path("/run/xendix-monitor.jsonl").read_text().splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            events.append({"unparsable": line})
    s.fact("monitor_events", events[:60])
    mine = [e for e in events if e.get("vbd") == f"vbd-{domid}-{XVDB}"]
    seen = {(e["source"], e["event"]) for e in mine}
    s.check(C.MONITOR_SAW_THE_REATTACH,
            {("xenstore", "remove"), ("xenstore", "add"), ("udev", "remove"), ("udev", "add")} <= seen
            and any(e.get("event") == "state" and e.get("value") == "4" for e in mine),
            seen=sorted(seen))

    lab.signal(box, "bye")
    run1 = domu.finish(180)
    s.check(C.TOGGLE_DOMU_RAN_ITS_SCRIPT, run1.finished,
            exit_status=run1.exit_status, timed_out=run1.timed_out, log=run1.script_log[-10:])
    s.fact("toggle_domu_profiles", run1.record("profile"))
    s.check(C.NO_OOPS_IN_THE_TOGGLE_DOMU, not run1.kernel_problems(),
            lines=run1.kernel_problems())
    s.check(C.ONLY_DOM0_LEFT_AFTER_TOGGLE_DOMU, lab.only_dom0_left())

    # -- Part 2: a udev rule and an auto policy, no manual step -------------
    POLICY.parent.mkdir(parents=True, exist_ok=True)
    POLICY.write_text('[default]\ndix = "auto"\n')
    inst = xendix("udev", "install", "--log", UDEV_LOG)
    s.fact("udev_install", summary(inst))
    rule = Path("/etc/udev/rules.d/65-xendix.rules")
    s.check(C.UDEV_INSTALL_WRITES_THE_RULE,
            inst.returncode == 0 and rule.exists() and "udev reloaded" in inst.stdout,
            run=summary(inst), rule=rule.read_text() if rule.exists() else None)
    lab.signal(box, "")
    domu2 = start("ctl2", [lab.lean_disk(disk, "xvdb"), lab.lean_disk(plain, "xvdc"), lab.lean_disk(box, "xvdd")],
                  "domu-ctl-policy.sh", "policy", "policy")
    table2 = xendix("status", "ctl2")
    s.fact("xendix_status_table_policy", table2.stdout)
    vbds2 = by_devid(status_json("ctl2"))
    toggles = {d: lab.xs_read(f"{domu2.backend(d)}/data-integrity-enable") for d in (XVDB, XVDC, 51760)}
    s.fact("policy_toggles", toggles)
    s.fact("udev_log", lab.read(UDEV_LOG))
    s.check(C.UDEV_APPLIED_THE_POLICY,
            toggles == {XVDB: "1", XVDC: "0", 51760: "0"}, toggles=toggles, log=lab.read(UDEV_LOG))
    verdicts = {d: v["verdict"] for d, v in vbds2.items()}
    s.check(C.ONE_PROTECTED_DISK,
            [d for d, v in verdicts.items() if v == "protected"] == [XVDB], verdicts=verdicts)

    # -- Part 3: a hostile guest, a stalled xenstored ------------------------
    hostile_nodes(domu2.frontend(XVDC))
    shown = xendix("status", "ctl2")
    shown_json = xendix("status", "--json", "ctl2")
    s.fact("status_with_hostile_bytes", summary(shown))
    raw = [b for b in (shown.stdout + shown.stderr + shown_json.stdout) if b in "\x1b\r\x07"]
    s.check(C.HOSTILE_BYTES_SHOWN_ESCAPED,
            shown.returncode == 0 and shown_json.returncode == 0 and not raw
            and "\\x1b[2K" in shown_json.stdout, run=summary(shown), raw_control_bytes=len(raw))
    hostile_rows = by_devid(status_json("ctl2"))
    s.check(C.HOSTILE_BYTES_SPOIL_NO_OTHER_ROW,
            hostile_rows.get(XVDB, {}).get("verdict") == "protected"
            and hostile_rows.get(XVDC, {}).get("verdict") != "protected",
            verdicts={d: v.get("verdict") for d, v in hostile_rows.items()})
    stalled = stalled_status(deadline_s=3)
    s.fact("status_with_a_stalled_xenstored", stalled)
    s.check(C.STALLED_XENSTORED_EXITS_4,
            stalled["rc"] == 4 and stalled["seconds"] < 3 + 10
            and stalled["stderr"].startswith("xendix: xenstored did not answer within 3 s (")
            and stalled["stderr"].count("\n") == 1, run=stalled)
    lab.signal(box, "bye")
    run2 = domu2.finish(180)
    profiles = {r.get("disk"): r.get("format") for r in run2.record("profile")}
    s.fact("policy_domu_profiles", profiles)
    s.check(C.PROFILE_ON_XVDB_ONLY,
            profiles == {"xvdb": dom0_profile["format"], "xvdc": "none"}, profiles=profiles)
    io = run2.record("io")
    s.check(C.IO_WORKS_ON_THE_PROTECTED_DISK, run2.finished and len(io) == 2
            and all(r["ok"] for r in io), io=io)
    s.check(C.NO_OOPS_IN_THE_POLICY_DOMU, not run2.kernel_problems(),
            lines=run2.kernel_problems())
except Exception as e:  # keep what was found so far
    import traceback
    s.check(C.SCENARIO_RAN_TO_ITS_END, False, error=repr(e), trace=traceback.format_exc()[-3000:])
    raise
finally:
    lab.check_dom0_clean(s)
    s.save()
