"""bench: fio in a domU on pairs of disks of the same kind, DIX on and
off, interleaved and repeated; dom0 counts what each run cost it.  The
host's `python -m bench report` turns the runs into the table."""

import dataclasses
import json
import sys
import threading
import time
from pathlib import Path

import checks as C
import labguest as lab
from plan import MAILBOX, PAIRS, PRECONDITION, WORKLOADS, plan

PERSISTENT = Path("/sys/module/xen_blkback/parameters/feature_persistent")
PI_TUPLE, INTERVAL = 8, 512
RUN_BOUND = 300  # seconds for one fio command, from the signal to the answer
PROBE_BOUND = 600  # seconds for bcc to compile and attach dom0's probe
DIX_VDEVS = {dix for _, dix, _ in PAIRS}

s = lab.Scenario()
T0 = time.monotonic()
smoke = lab.param("full", "0") != "1"
configs, reps, runtime = plan(smoke)
only = [c for c in lab.param("configs").split(",") if c]  # --set configs=default,indirect256
# --set profile=4k-randwrite-qd32,1m-write: dom0's kernel stacks sampled
# during the first repetition of these workloads, on both sides.
PROFILE = [w for w in lab.param("profile").split(",") if w]
stack_samples: list[dict] = []
if only:
    configs = tuple(c for c in configs if c.name in only)
# --set workloads=4k-randwrite-qd32,1m-write: only these, in every configuration.
wanted = [w for w in lab.param("workloads").split(",") if w]
if wanted:
    configs = tuple(dataclasses.replace(c, workloads=tuple(w for w in c.workloads if w in wanted))
                    for c in configs)
    configs = tuple(c for c in configs if c.workloads)
s.fact("bench_plan", {"smoke": smoke, "reps": reps, "runtime_s": runtime,
                      "configs": [c.name for c in configs]})


def profile_of(dev: str) -> dict:
    p = lab.integrity(dev)
    return {"format": p["format"], "interval": int(p["protection_interval_bytes"] or 0),
            "tuple_size": PI_TUPLE, "app_tag_size": int(p["tag_size"] or 0)}


# -- The disks: a DIX disk and a plain one of each kind ----------------------
# scsi_debug without its response delay (a jiffy by default, which would
# be most of a 4 KiB request's time), one store per host.
lab.scsi_debug(dev_size_mb=128, dif=1, dix=1, add_host=2, per_host_store=1, delay=0)


def scsi_debug_disks() -> list[str]:
    return sorted(f"/dev/{b.name}" for b in Path("/sys/block").glob("sd*")
                  if lab.read(b / "device" / "model") == "scsi_debug"
                  and Path("/dev", b.name).exists())


lab.wait_until(lambda: len(scsi_debug_disks()) == 2, 30)
scsi = scsi_debug_disks()
disks = {"xvdb": scsi[0], "xvdc": scsi[-1], "xvdd": lab.nvme("dix0"), "xvde": lab.nvme("dix1"),
         MAILBOX: lab.mailbox()}
box = disks[MAILBOX]
s.fact("disks", disks)
s.fact("bench_disks", {
    "scsi_debug": {**profile_of(disks["xvdb"]), "backing": "scsi_debug dif=1 dix=1 delay=0"},
    "nvme": {**profile_of(disks["xvdd"]), "backing": "QEMU nvme-ns pi=1 ms=8 mset=0 lbs=512"},
})

# -- dom0's probe ------------------------------------------------------------
# bcc compiles it for a minute or more under TCG: meanwhile the first domU
# boots, and the runs wait for it (wait_for_probe).  Its counts are taken
# as differences around each run, so it may attach after the connect.
probe = None
probe_error = ""


def load_probe() -> None:
    global probe, probe_error
    try:
        from probe import Probe

        probe = Probe()
    except Exception as e:  # bcc's errors are plain Exceptions
        probe_error = f"{type(e).__name__}: {e}"


loading = threading.Thread(target=load_probe, name="probe", daemon=True)
loading.start()


probe_ready: bool | None = None  # None until wait_for_probe


def dom0_probe():
    """The probe, once wait_for_probe found it attached; else None."""
    return probe if probe_ready else None


def wait_for_probe() -> None:
    """Once, before the first run: the probe is attached, or has failed (a
    probe still compiling at the bound is not used, even if it ends later)."""
    global probe_ready
    if probe_ready is not None:
        return
    loading.join(PROBE_BOUND)
    probe_ready = probe is not None and not loading.is_alive()
    s.fact("seconds_to_probe", round(time.monotonic() - T0, 1))
    s.check(C.PROBES_STARTED, probe_ready,
            error=(probe_error or ("still compiling" if loading.is_alive() else ""))[-1500:])


uname = lab.sh("uname", "-r").stdout.strip()
xl_info = lab.sh(lab.XL, "info", check=False, timeout=60).stdout
xen = next((l.split(":", 1)[1].strip() for l in xl_info.splitlines()
            if l.startswith("xen_version")), "?")
versions = {"series": lab.job()["series"], "dom0_kernel": uname, "domu_kernel": uname,
            "xen": xen, "qemu": lab.read("/sys/devices/virtual/dmi/id/sys_vendor") or "?",
            "xendix": lab.job()["xendix"]["patched"]["xen-blkback"]}


def fio_numbers(out: dict) -> dict:
    """IOs, bytes, seconds, rates and mean completion latency of fio's one
    job (reads plus writes)."""
    job = out["jobs"][0]
    r, w = job["read"], job["write"]
    ios = r["total_ios"] + w["total_ios"]
    clat_ns = (r["clat_ns"]["mean"] * r["total_ios"] + w["clat_ns"]["mean"] * w["total_ios"]) / max(ios, 1)
    return {"ios": ios, "bytes": r["io_bytes"] + w["io_bytes"],
            "seconds": job["job_runtime"] / 1000, "iops": r["iops"] + w["iops"],
            "bw_bytes": r["bw_bytes"] + w["bw_bytes"], "clat_mean_us": round(clat_ns / 1000, 1)}


def domu_busy(rec: dict) -> float | None:
    from probe import busy_seconds

    try:
        return busy_seconds(rec["cpu1"]) - busy_seconds(rec["cpu0"])
    except (KeyError, ValueError, IndexError):
        return None


class Bench:
    """One domU of one configuration, driven through the mailbox."""

    def __init__(self, config) -> None:
        self.config = config
        vdevs = ["xvdb", "xvdc", "xvdd", "xvde", MAILBOX]
        self.domu = lab.Domu(f"bench-{config.name}", [lab.lean_disk(disks[v], v) for v in vdevs],
                             "domu-bench.sh", memory=512, front_params=config.front_params,
                             vcpus=config.vcpus)
        self.seq = 0
        self.formats: dict[str, str] = {}  # the guest's integrity format of each vdev
        self.domid = -1
        self.records_seen = 0

    def start(self) -> bool:
        lab.signal(box, "")  # not the last domU's "bye"
        self.domu.start(paused=True)
        for _, plain in ((d, p) for _, d, p in PAIRS):
            lab.xs_write(f"{self.domu.backend(lab.devid(plain))}/data-integrity-enable", "0")
        self.domu.unpause()
        self.domid = self.domu.domid
        return self.domu.wait_record("ready", 300, seq=0) is not None

    def command(self, text: str) -> dict | None:
        """Send one command; the domU's fio record, None if it gave none."""
        self.seq += 1
        lab.signal(box, f"{self.seq} {text}")
        self.domu.wait_record("ready", RUN_BOUND, seq=self.seq)
        return next((r for r in reversed(self.domu.records_so_far())
                     if r.get("record") == "fio" and r.get("seq") == self.seq), None)

    def run(self, kind: str, workload: str, rep: int, vdev: str) -> dict:
        handle = lab.devid(vdev)
        started = round(time.monotonic() - T0, 1)
        probe = dom0_probe()
        sampled = bool(probe) and rep == 0 and workload in PROFILE
        if sampled:
            probe.start_profile(vdev in DIX_VDEVS)
        before = probe.snapshot(self.domid, handle, vdev) if probe else None
        rec = self.command(f"run {vdev} " + " ".join(WORKLOADS[workload].fio_args(runtime)))
        after = probe.snapshot(self.domid, handle, vdev) if probe else None
        if sampled:
            stack_samples.append({"config": self.config.name, "kind": kind, "workload": workload,
                             "dix": vdev in DIX_VDEVS, **probe.stop_profile()})
        out = {"config": self.config.name, "config_params": dict(self.config.front_params,
                                                                   vcpus=self.config.vcpus,
                                                                   persistent=self.config.persistent),
               "kind": kind, "workload": workload, "rep": rep, "dix": vdev in DIX_VDEVS,
               "dix_negotiated": self.formats.get(vdev, "none") != "none",
               "vdev": vdev, "t": started, "ok": False}
        if rec is None or rec.get("rc") != 0 or not isinstance(rec.get("out"), dict):
            out["error"] = (rec or {}).get("err", "no record")
            return out
        try:
            out.update(fio_numbers(rec["out"]), ok=True)
        except (KeyError, IndexError, TypeError) as e:
            out["error"] = f"fio output: {e}"
            return out
        out["domu_cpu_s"] = domu_busy(rec)
        if before and after:
            b, a = before.vbd, after.vbd
            requests, pairs = a["requests"] - b["requests"], a["pairs"] - b["pairs"]
            pair_sectors = a["pair_sectors"] - b["pair_sectors"]
            out.update({
                "dom0_cpu_s": round(after.dom0_s - before.dom0_s, 3),
                "blkback_cpu_s": round(after.threads_s - before.threads_s, 3),
                "requests": requests, "dix_requests": pairs, "ring_slots": requests + pairs,
                "max_inflight": a["max_inflight"], "max_inflight_pairs": a["max_inflight_pairs"],
                "grant_maps": after.grant_maps - before.grant_maps,
                "grant_unmaps": after.grant_unmaps - before.grant_unmaps,
                "data_bytes": (a["sectors"] - b["sectors"]) * 512,
                "pi_bytes": pair_sectors * 512 // INTERVAL * PI_TUPLE,
            })
        return out

    def negotiated(self) -> dict:
        """What the connection of the first DIX disk agreed on, from xenstore."""
        fe, be = self.domu.frontend(lab.devid("xvdb")), self.domu.backend(lab.devid("xvdb"))
        return {"queues": lab.xs_read(f"{fe}/multi-queue-num-queues") or "1",
                "ring_page_order": lab.xs_read(f"{fe}/ring-page-order") or "0",
                "persistent": lab.xs_read(f"{be}/feature-persistent"),
                "indirect_segments": lab.xs_read(f"{be}/feature-max-indirect-segments")}

    def bye(self) -> lab.DomuRun:
        self.seq += 1
        lab.signal(box, f"{self.seq} bye")
        return self.domu.finish(120)


runs: list[dict] = []
up_ok, negotiated, problems, preconditioned = True, {}, [], False
for config in configs:
    PERSISTENT.write_text("Y\n" if config.persistent else "N\n")
    bench = Bench(config)
    up = bench.start()
    wait_for_probe()  # the domU is up and idle
    profiles = {r["vdev"]: r for r in bench.domu.records_so_far() if r.get("record") == "profile"}
    want = {v: ("T10-DIF-TYPE1-CRC" if v in DIX_VDEVS else "none")
            for v in ("xvdb", "xvdc", "xvdd", "xvde")}
    got = bench.formats = {v: profiles.get(v, {}).get("format") for v in want}
    s.fact(f"profiles_{config.name}", profiles)
    up_ok = up_ok and up and got == want
    if not (up and got == want):
        s.fact(f"not_up_{config.name}", {"up": up, "want": want, "got": got,
                                         "create_error": bench.domu.run.create_error})
        bench.bye()
        continue
    negotiated[config.name] = {**bench.negotiated(), "asked": config.front_params,
                               "queues_seen_in_guest": profiles["xvdb"].get("queues"),
                               "max_hw_sectors_kb": profiles["xvdb"].get("max_hw_sectors_kb")}
    reads = any(WORKLOADS[w].rw in ("read", "randread") for c in configs for w in c.workloads)
    if reads and not preconditioned:
        pre = [bench.command(f"run {v} " + " ".join(PRECONDITION)) for v in ("xvdb", "xvdc", "xvdd", "xvde")]
        s.fact("precondition_rc", [None if p is None else p.get("rc") for p in pre])
        preconditioned = True
    for rep in range(reps):
        for workload in config.workloads:
            for kind, dix, plain in PAIRS:
                # Interleaved; the side that goes first alternates by rep.
                for vdev in ((dix, plain) if rep % 2 == 0 else (plain, dix)):
                    runs.append(bench.run(kind, workload, rep, vdev))
        print(f"bench: {config.name} rep {rep + 1}/{reps} done ({len(runs)} runs)",
              file=sys.stderr, flush=True)
    done = bench.bye()
    problems += done.kernel_problems()
PERSISTENT.write_text("Y\n")
wait_for_probe()  # if no domU came up

tools = next((r for r in bench.domu.run.records if r.get("record") == "tools"), {})
versions["fio"] = tools.get("fio", "?")
s.fact("bench_versions", versions)
s.fact("negotiated", negotiated)
s.fact("bench_runs", runs)
s.fact("bench_profiles", stack_samples)
(lab.OUT / "bench-runs.json").write_text(json.dumps(runs, indent=1))

s.check(C.DOMU_IS_UP, up_ok and len(negotiated) == len(configs), negotiated=negotiated)


def negotiated_ok(name: str, n: dict) -> bool:
    c = next(c for c in configs if c.name == name)
    ok = n["persistent"] == ("1" if c.persistent else "0")
    if "max_queues" in c.front_params:
        ok = ok and int(n["queues"]) == c.front_params["max_queues"]
    if "max_ring_page_order" in c.front_params:
        ok = ok and int(n["ring_page_order"]) == c.front_params["max_ring_page_order"]
    if "max_indirect_segments" in c.front_params:
        ok = ok and int(n["max_hw_sectors_kb"] or 0) >= c.front_params["max_indirect_segments"] * 4
    return ok


s.check(C.CONFIG_NEGOTIATED, bool(negotiated) and all(negotiated_ok(k, v) for k, v in negotiated.items()),
        negotiated=negotiated)
failed = [r for r in runs if not r["ok"] or not r.get("ios")]
s.check(C.EVERY_RUN_COMPLETED, bool(runs) and not failed, failed=failed[:5], runs=len(runs))
measured = [r for r in runs if r["ok"] and r.get("requests") is not None]
bad_pairs = [r for r in measured if (r["dix_requests"] != r["requests"] if r["dix"]
                                     else r["dix_requests"] != 0) or not r["requests"]]
s.check(C.DIX_RUNS_ARE_PAIRS, bool(measured) and not bad_pairs,
        bad=[{k: r.get(k) for k in ("config", "kind", "workload", "vdev", "requests", "dix_requests")}
             for r in bad_pairs[:8]])
dix_runs = [r for r in measured if r["dix"] and r["data_bytes"]]
s.check(C.PI_BYTES_MATCH_THE_PROFILE,
        bool(dix_runs) and all(r["pi_bytes"] * INTERVAL == r["data_bytes"] * PI_TUPLE for r in dix_runs),
        runs=[(r["pi_bytes"], r["data_bytes"]) for r in dix_runs[:5]])
s.check(C.NO_OOPS_IN_THE_DOMUS, not problems, lines=problems[:20])
lab.remove_scsi_debug()
lab.check_dom0_clean(s)
s.save()
