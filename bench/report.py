"""The bench report: the lab's raw fio runs, paired DIX/plain by rep, turned
into ratios, per-I/O costs and targets, as data, Markdown and JSON.

Everything here is a function of the summary (no clock, no environment):
``load`` reads a summary.json, ``summarize`` computes, ``markdown`` and
``results_json`` render, ``write`` puts the three files in a folder.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Run = dict[str, Any]
Group = tuple[str, str, str]  # (config, kind, workload)

WORKLOADS = ("4k-randread-qd1", "4k-randwrite-qd1", "4k-randread-qd32", "4k-randwrite-qd32",
             "64k-read", "64k-write", "1m-read", "1m-write", "4m-read", "4m-write")
KINDS = ("scsi_debug", "nvme")
DEFAULT_CONFIG = "default"
VERSION_LABELS = (("series", "series"), ("dom0_kernel", "dom0 kernel"),
                  ("domu_kernel", "domU kernel"), ("xen", "Xen"), ("qemu", "QEMU"),
                  ("fio", "fio"), ("xendix", "xen-dix modules"))
REQUIRED = {"config": str, "kind": str, "workload": str, "rep": int, "dix": bool, "ok": bool}
# Per-I/O costs: name -> (the run's field, its scale); divided by the run's ios.
PER_IO = {"dom0_us_per_io": ("dom0_cpu_s", 1e6), "domu_us_per_io": ("domu_cpu_s", 1e6),
          "blkback_us_per_io": ("blkback_cpu_s", 1e6), "slots_per_io": ("ring_slots", 1.0),
          "grant_maps_per_io": ("grant_maps", 1.0), "grant_unmaps_per_io": ("grant_unmaps", 1.0)}
MET, MISSED, NOT_MEASURED = "met", "missed", "not-measured"


class BenchError(ValueError):
    """A summary the report cannot use; the message is one line."""


@dataclass(frozen=True)
class Bench:
    """What the bench scenario recorded in one boot."""

    series: str
    versions: dict[str, Any]
    disks: dict[str, dict[str, Any]]
    runs: list[Run]
    # dom0's kernel stacks sampled during some runs (--set profile=...):
    # {"config", "kind", "workload", "dix", "samples", "self": [[fn, share]], "total": [...]}
    profiles: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Pair:
    """The DIX and plain runs of one (config, kind, workload) and rep; a
    side is None when the scenario recorded no such run."""

    group: Group
    rep: int
    dix: Run | None
    plain: Run | None


@dataclass(frozen=True)
class RatioTarget:
    """DIX/plain of ``metric`` (its median over the rep pairs) at least
    ``threshold`` on each of ``workloads``."""

    label: str
    workloads: tuple[str, ...]
    metric: str
    threshold: float


RATIO_TARGETS = (
    RatioTarget("1 MiB sequential: DIX/plain bandwidth ≥ 0.97", ("1m-read", "1m-write"),
                "bw_ratio", 0.97),
    RatioTarget("4k random, qd32: DIX/plain IOPS ≥ 0.90",
                ("4k-randread-qd32", "4k-randwrite-qd32"), "iops_ratio", 0.90),
)
GRANT_TARGET = "grant maps + unmaps per DIX I/O no higher than per plain I/O"


# -- loading ----------------------------------------------------------------

def load(path: Path) -> Bench:
    """The bench facts of a lab summary.json; BenchError when unreadable."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise BenchError(f"{path}: no such file") from None
    except json.JSONDecodeError as e:
        raise BenchError(f"{path}: not JSON ({e.msg}, line {e.lineno})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise BenchError(f"{path}: cannot read it ({e})") from None
    return from_summary(data, str(path))


def from_summary(data: Any, where: str = "summary") -> Bench:
    """The bench facts of a parsed summary (``{"series", "facts": {...}}``)."""
    facts = data.get("facts") if isinstance(data, dict) else None
    if not isinstance(facts, dict):
        raise BenchError(f"{where}: no 'facts' (not a lab summary.json)")
    runs = facts.get("bench_runs")
    if not isinstance(runs, list):
        raise BenchError(f"{where}: no facts['bench_runs'] (not a summary of the bench scenario)")
    for i, run in enumerate(runs):
        check_run(run, f"{where}: bench_runs[{i}]")
    versions = dict(facts.get("bench_versions") or {})
    if data.get("qemu") and versions.get("qemu") in (None, "?", "QEMU"):
        versions["qemu"] = data["qemu"]  # the host's emulator, which dom0 cannot name
    disks = facts.get("bench_disks") or {}
    series = str(data.get("series") or versions.get("series") or "unknown")
    profiles = [p for p in facts.get("bench_profiles") or [] if isinstance(p, dict)]
    return Bench(series, dict(versions), dict(disks), runs, profiles)


def check_run(run: Any, where: str) -> None:
    """BenchError unless ``run`` has the keys that place it in a pair."""
    if not isinstance(run, dict):
        raise BenchError(f"{where}: not an object")
    for key, kind in REQUIRED.items():
        value = run.get(key)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise BenchError(f"{where}: '{key}' should be {kind.__name__}, not {value!r}")


def number(run: Run, field: str) -> float | None:
    """A measured number of a run; None when null, absent or not finite."""
    value = run.get(field)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


# -- pairing and statistics -------------------------------------------------

def group_of(run: Run) -> Group:
    return run["config"], run["kind"], run["workload"]


def pair(runs: Iterable[Run]) -> list[Pair]:
    """The runs paired by (config, kind, workload, rep), in the order the
    scenario first ran each; two runs of one side is a BenchError."""
    sides: dict[tuple[Group, int], dict[bool, Run]] = {}
    for run in runs:
        slot = sides.setdefault((group_of(run), run["rep"]), {})
        if run["dix"] in slot:
            config, kind, workload = group_of(run)
            raise BenchError(f"two {'DIX' if run['dix'] else 'plain'} runs of {config} {kind} "
                             f"{workload} rep {run['rep']}")
        slot[run["dix"]] = run
    return [Pair(group, rep, s.get(True), s.get(False)) for (group, rep), s in sides.items()]


def ratio(p: Pair, field: str) -> float | None:
    """DIX over plain of ``field`` in one rep pair: None unless both runs
    succeeded, both measured it, and plain's is above zero."""
    if p.dix is None or p.plain is None or not (p.dix["ok"] and p.plain["ok"]):
        return None
    dix, plain = number(p.dix, field), number(p.plain, field)
    if dix is None or plain is None or plain <= 0:
        return None
    return dix / plain


def spread(values: Iterable[float | None]) -> dict[str, float] | None:
    """min, median and max of the measured values, and how many; None if none."""
    got = [v for v in values if v is not None]
    if not got:
        return None
    return {"min": min(got), "median": statistics.median(got), "max": max(got), "n": len(got)}


def median(values: Iterable[float | None]) -> float | None:
    got = [v for v in values if v is not None]
    return statistics.median(got) if got else None


def per_io(run: Run, field: str, scale: float = 1.0) -> float | None:
    """``field`` × ``scale`` per fio I/O of a successful run, or None."""
    ios, value = number(run, "ios"), number(run, field)
    if not run["ok"] or ios is None or ios <= 0 or value is None:
        return None
    return value * scale / ios


def grant_ops_per_io(run: Run) -> float | None:
    maps, unmaps = per_io(run, "grant_maps"), per_io(run, "grant_unmaps")
    return None if maps is None or unmaps is None else maps + unmaps


def pi_percent(run: Run) -> float | None:
    """PI bytes over data bytes blkback moved, in %."""
    pi, data = number(run, "pi_bytes"), number(run, "data_bytes")
    if not run["ok"] or pi is None or data is None or data <= 0:
        return None
    return 100.0 * pi / data


def pi_floor_percent(disk: dict[str, Any] | None) -> float | None:
    """The least PI a disk's format can take: tuple_size (PI bytes an
    interval, 8 for T10) / interval, in %."""
    tag = number(disk or {}, "tuple_size")
    interval = number(disk or {}, "interval")
    return None if tag is None or not interval else 100.0 * tag / interval


def side_metrics(runs: list[Run], dix: bool) -> dict[str, Any]:
    """Medians over the successful runs of one side of the per-I/O costs
    (µs of CPU, ring slots, grant operations), of the most requests in
    flight (pairs, for DIX) and of the PI share (DIX)."""
    ok = [r for r in runs if r["ok"]]
    out: dict[str, Any] = {"runs": len(ok)}
    for name, (field, scale) in PER_IO.items():
        out[name] = median(per_io(r, field, scale) for r in ok)
    out["grant_ops_per_io"] = median(grant_ops_per_io(r) for r in ok)
    out["max_inflight"] = median(number(r, "max_inflight") for r in ok)
    if dix:
        out["max_inflight_pairs"] = median(number(r, "max_inflight_pairs") for r in ok)
        out["pi_percent"] = median(pi_percent(r) for r in ok)
    return out


def summarize_group(group: Group, pairs: list[Pair], disk: dict[str, Any] | None) -> dict[str, Any]:
    """One (config, kind, workload): the ratios over its rep pairs, each
    side's medians and its failed runs."""
    config, kind, workload = group
    dix_runs = [p.dix for p in pairs if p.dix is not None]
    plain_runs = [p.plain for p in pairs if p.plain is not None]
    return {
        "config": config, "kind": kind, "workload": workload,
        "pairs": sum(1 for p in pairs if p.dix and p.plain and p.dix["ok"] and p.plain["ok"]),
        "unpaired": sum(1 for p in pairs if p.dix is None or p.plain is None),
        "failed": {"dix": sum(1 for r in dix_runs if not r["ok"]),
                   "plain": sum(1 for r in plain_runs if not r["ok"])},
        "iops_ratio": spread(ratio(p, "iops") for p in pairs),
        "bw_ratio": spread(ratio(p, "bw_bytes") for p in pairs),
        "dix": side_metrics(dix_runs, dix=True),
        "plain": side_metrics(plain_runs, dix=False),
        "pi_floor_percent": pi_floor_percent(disk),
    }


def in_order(seen: Iterable[str], canonical: Iterable[str]) -> list[str]:
    """The canonical names that were seen, then the others as first seen."""
    seen = list(dict.fromkeys(seen))
    return [n for n in canonical if n in seen] + [n for n in seen if n not in canonical]


def summarize(bench: Bench) -> dict[str, Any]:
    """Every group's numbers, each config's parameters, the failed runs and
    the targets."""
    pairs = pair(bench.runs)
    by_group: dict[Group, list[Pair]] = {}
    for p in pairs:
        by_group.setdefault(p.group, []).append(p)
    configs = in_order((g[0] for g in by_group), [DEFAULT_CONFIG])
    kinds = in_order((g[1] for g in by_group), KINDS)
    workloads = in_order((g[2] for g in by_group), WORKLOADS)
    groups = [summarize_group(g, by_group[g], bench.disks.get(g[1]))
              for c in configs for k in kinds for w in workloads if (g := (c, k, w)) in by_group]
    params: dict[str, Any] = {}
    for run in bench.runs:
        params.setdefault(run["config"], run.get("config_params") or {})
    return {
        "configs": {c: params[c] for c in configs},
        "groups": groups,
        "failed_runs": sum(1 for r in bench.runs if not r["ok"]),
        "targets": targets(groups, configs, in_order([*KINDS, *kinds, *bench.disks], KINDS)),
    }


# -- targets ----------------------------------------------------------------

def verdict(values: dict[str, Any], misses: Callable[[Any], bool]) -> str:
    """missed if a measured value misses; met if every expected workload was
    measured; otherwise not-measured."""
    measured = [v for v in values.values() if v is not None]
    if any(misses(v) for v in measured):
        return MISSED
    return MET if measured and len(measured) == len(values) else NOT_MEASURED


def ratio_target(t: RatioTarget, config: str, kind: str,
                 found: dict[str, dict[str, Any]]) -> dict[str, Any]:
    values = {w: (found[w][t.metric] or {}).get("median") if w in found else None
              for w in t.workloads}
    measured = {w: v for w, v in values.items() if v is not None}
    worst = min(measured, key=measured.__getitem__) if measured else None
    return {"target": t.label, "config": config, "kind": kind, "threshold": t.threshold,
            "metric": t.metric, "values": values,
            "status": verdict(values, lambda v: v < t.threshold),
            "worst": None if worst is None else {"workload": worst, "value": measured[worst]}}


def grant_target(config: str, kind: str, found: dict[str, dict[str, Any]]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for w, g in found.items():
        dix, plain = g["dix"]["grant_ops_per_io"], g["plain"]["grant_ops_per_io"]
        values[w] = None if dix is None or plain is None else {"dix": dix, "plain": plain}
    excess = {w: v["dix"] - v["plain"] for w, v in values.items() if v is not None}
    worst = max(excess, key=excess.__getitem__) if excess else None
    return {"target": GRANT_TARGET, "config": config, "kind": kind, "values": values,
            "status": verdict(values, lambda v: v["dix"] > v["plain"] * (1 + 1e-9)),
            "worst": None if worst is None else {"workload": worst, **values[worst]}}


def targets(groups: list[dict[str, Any]], configs: list[str],
            kinds: list[str]) -> list[dict[str, Any]]:
    """Each target for each config and kind, met, missed or not-measured."""
    out = []
    for config in configs:
        for kind in kinds:
            found = {g["workload"]: g for g in groups
                     if g["config"] == config and g["kind"] == kind}
            out.extend(ratio_target(t, config, kind, found) for t in RATIO_TARGETS)
            out.append(grant_target(config, kind, found))
    return out


# -- rendering --------------------------------------------------------------

NA = "n/a"


def fmt(value: float | None, digits: int | None = None) -> str:
    """A number for the table: ``digits`` decimals, or three figures or so
    when None (0 as 0); n/a when not measured."""
    if value is None:
        return NA
    if digits is None:
        if value == 0 or 0 < abs(value) < 1:
            return f"{value:.3g}"
        digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    return f"{value:.{digits}f}"


def fmt_ratio(s: dict[str, float] | None, with_range: bool = True) -> str:
    if s is None:
        return NA
    median_text = fmt(s["median"], 3)
    return f"{median_text} [{fmt(s['min'], 3)}–{fmt(s['max'], 3)}]" if with_range else median_text


def fmt_sides(g: dict[str, Any], dix_key: str, plain_key: str | None = None,
              digits: int | None = None) -> str:
    return f"{fmt(g['dix'][dix_key], digits)} / {fmt(g['plain'][plain_key or dix_key], digits)}"


def fmt_pairs(g: dict[str, Any]) -> str:
    failed = g["failed"]["dix"] + g["failed"]["plain"]
    notes = ([f"{failed} failed"] if failed else []) + (
        [f"{g['unpaired']} unpaired"] if g["unpaired"] else [])
    return f"{g['pairs']} ({', '.join(notes)})" if notes else str(g["pairs"])


def fmt_pi(g: dict[str, Any]) -> str:
    pi, floor = g["dix"]["pi_percent"], g["pi_floor_percent"]
    text = NA if pi is None else f"{pi:.3g}"
    return text if floor is None else f"{text} ({floor:.3g})"


TABLE_COLUMNS = ("kind", "workload", "pairs", "IOPS DIX/plain", "bw DIX/plain", "dom0 µs/IO",
                 "domU µs/IO", "blkback µs/IO", "slots/IO", "grant ops/IO", "max in flight",
                 "PI % (floor)")


def table_row(g: dict[str, Any]) -> list[str]:
    return [g["kind"], g["workload"], fmt_pairs(g), fmt_ratio(g["iops_ratio"]),
            fmt_ratio(g["bw_ratio"], with_range=False),
            fmt_sides(g, "dom0_us_per_io"), fmt_sides(g, "domu_us_per_io"),
            fmt_sides(g, "blkback_us_per_io"), fmt_sides(g, "slots_per_io"),
            fmt_sides(g, "grant_ops_per_io"),
            fmt_sides(g, "max_inflight_pairs", "max_inflight", digits=0),
            fmt_pi(g)]


def md_table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> list[str]:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]


def config_table(summary: dict[str, Any], config: str) -> list[str]:
    """The Markdown table of one config, rows kind × workload."""
    rows = (table_row(g) for g in summary["groups"] if g["config"] == config)
    return md_table(TABLE_COLUMNS, rows)


def fmt_target(t: dict[str, Any]) -> str:
    worst, where = t["worst"], f"`{t['config']}`, {t['kind']}"
    missing = [w for w, v in t["values"].items() if v is None]
    if worst is None:
        detail = "no measurement"
    elif "value" in worst:
        detail = f"lowest {worst['value']:.3f} ({worst['workload']})"
    else:
        detail = f"worst {fmt(worst['dix'])} vs {fmt(worst['plain'])} ({worst['workload']})"
    if missing and worst is not None:
        detail += f"; not measured: {', '.join(missing)}"
    return f"- **{t['status']}**: {where}: {t['target']}: {detail}"


def markdown(bench: Bench, summary: dict[str, Any]) -> str:
    """results.md: versions and disks, one table per config, the targets."""
    v = bench.versions
    lines = [f"# xen-dix bench, series {bench.series}", ""]
    lines += [f"- {label}: {v[key]}" for key, label in VERSION_LABELS if v.get(key)]
    lines += ["", "## Disks", ""]
    lines += md_table(("kind", "format", "interval", "PI bytes", "PI floor %", "backing"),
                      ([kind, str(d.get("format", NA)), str(d.get("interval", NA)),
                        str(d.get("tuple_size", NA)), fmt(pi_floor_percent(d), 4),
                        str(d.get("backing", NA))] for kind, d in bench.disks.items()))
    lines += ["", "Ratios are DIX over plain, median [min–max] over the rep pairs (bandwidth: "
              "median); two values read DIX / plain, each the median over that side's runs; "
              "max in flight is DIX pairs / plain requests; PI % is PI bytes over data bytes "
              f"of the DIX runs, with the format's floor.  Failed runs: {summary['failed_runs']}."]
    for config, params in summary["configs"].items():
        shown = ", ".join(f"{k}={val}" for k, val in params.items()) or "none recorded"
        lines += ["", f"## Config `{config}`", "", f"Parameters: {shown}", ""]
        lines += config_table(summary, config)
    lines += ["", "## Targets", ""] + [fmt_target(t) for t in summary["targets"]]
    lines += profile_section(bench.profiles)
    return "\n".join(lines) + "\n"


def profile_section(profiles: list[dict[str, Any]], top: int = 8) -> list[str]:
    """Where dom0's time went: for each sampled workload, the hottest kernel
    functions by share of samples (self, then anywhere in the stack), DIX
    beside plain."""
    if not profiles:
        return []
    lines = ["", "## Where dom0's time goes (kernel stacks sampled at 499 Hz on every CPU)", ""]
    groups: dict[tuple[str, str, str], dict[bool, dict[str, Any]]] = {}
    for p in profiles:
        key = (str(p.get("config")), str(p.get("kind")), str(p.get("workload")))
        groups.setdefault(key, {})[bool(p.get("dix"))] = p
    for (config, kind, workload), sides in groups.items():
        lines += [f"### `{config}`, {kind}, {workload}", ""]
        for col in ("self", "total"):
            rows = []
            d, pl = sides.get(True, {}), sides.get(False, {})
            dl, pll = d.get(col) or [], pl.get(col) or []
            for i in range(min(top, max(len(dl), len(pll)))):
                left = f"{dl[i][0]} {100 * dl[i][1]:.1f}%" if i < len(dl) else ""
                right = f"{pll[i][0]} {100 * pll[i][1]:.1f}%" if i < len(pll) else ""
                rows.append([str(i + 1), left, right])
            lines += md_table(("#", f"DIX, {col} ({d.get('samples', 0)} samples)",
                               f"plain, {col} ({pl.get('samples', 0)} samples)"), rows)
            lines.append("")
    return lines


def results_json(bench: Bench, summary: dict[str, Any]) -> str:
    """results.json: the versions, disks, computed summary and raw runs."""
    return json.dumps({"series": bench.series, "versions": bench.versions, "disks": bench.disks,
                       "summary": summary, "runs": bench.runs}, indent=2, allow_nan=False) + "\n"


def write(bench: Bench, out: Path) -> str:
    """Write results.md, results.json and ratios.png into ``out``; return
    the Markdown.  BenchError, after the first two, without matplotlib."""
    from . import chart

    summary = summarize(bench)
    text = markdown(bench, summary)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.md").write_text(text)
    (out / "results.json").write_text(results_json(bench, summary))
    chart.write(bench, summary, out / "ratios.png")
    return text
