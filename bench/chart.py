"""ratios.png: the median DIX/plain IOPS ratio of each workload, one panel
per config, one bar per disk kind, min–max as error bars, with 1.0 and the
targets drawn across.  matplotlib's Agg canvas, no display, no pyplot
state; the image carries the versions and nothing else that changes."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .report import KINDS, RATIO_TARGETS, WORKLOADS, Bench, BenchError, in_order

COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown")
TARGET_COLOURS = ("tab:green", "tab:red")


def footer(bench: Bench) -> str:
    v = bench.versions
    parts = [f"series {bench.series}"] + [f"{label} {v[key]}" for key, label in (
        ("dom0_kernel", "dom0"), ("domu_kernel", "domU"), ("xen", "Xen"), ("qemu", "QEMU"),
        ("fio", "fio")) if v.get(key)]
    return " · ".join(parts)


def bars(groups: list[dict[str, Any]], workloads: list[str],
         kind: str) -> tuple[list[int], list[float], list[list[float]]]:
    """x positions, median heights and [below, above] error lengths of one
    kind's measured workloads."""
    xs, heights, below, above = [], [], [], []
    by_workload = {g["workload"]: g["iops_ratio"] for g in groups if g["kind"] == kind}
    for x, w in enumerate(workloads):
        s = by_workload.get(w)
        if s is not None:
            xs.append(x)
            heights.append(s["median"])
            below.append(s["median"] - s["min"])
            above.append(s["max"] - s["median"])
    return xs, heights, [below, above]


CAP = 2.0  # the top of the scale: a wilder max is drawn to the edge and written out


def y_range(groups: list[dict[str, Any]]) -> tuple[float, float]:
    """From a little below the lowest bar or target (0.8 at the most, a
    tenth at a time) to a little above the highest bar or 1.0, at most
    CAP: the ratios live near 1, where a scale from 0 would hide them and
    one noisy repetition should not squash the rest."""
    measured = [g["iops_ratio"] for g in groups if g["iops_ratio"]]
    low = min([0.85] + [s["min"] for s in measured])
    high = min(CAP, max([1.05] + [s["max"] for s in measured]))
    return high + 0.02, max(0.0, math.floor((low - 0.05) * 10) / 10)


def clipped(groups: list[dict[str, Any]], workloads: list[str], kind: str,
            top: float) -> list[tuple[int, float]]:
    """(x, max) of the bars whose max is above the scale."""
    return [(workloads.index(g["workload"]), g["iops_ratio"]["max"]) for g in groups
            if g["kind"] == kind and g["iops_ratio"] and g["iops_ratio"]["max"] > top
            and g["workload"] in workloads]


def write(bench: Bench, summary: dict[str, Any], path: Path) -> None:
    """Draw the chart into ``path`` (PNG); BenchError without matplotlib."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise BenchError(f"matplotlib is not installed (pip install -e '.[bench]'): "
                         f"{path.name} not written") from None
    configs = list(summary["configs"]) or ["(no runs)"]
    groups = summary["groups"]
    workloads = in_order((g["workload"] for g in groups), WORKLOADS)
    kinds = in_order((g["kind"] for g in groups), KINDS)
    height = 3.2 * len(configs) + 1.2
    fig = Figure(figsize=(max(8.0, 1.0 * len(workloads) + 3), height), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(configs), 1, squeeze=False, sharex=True)[:, 0]
    width = 0.8 / max(1, len(kinds))
    top, bottom = y_range(groups)
    for ax, config in zip(axes, configs):
        mine = [g for g in groups if g["config"] == config]
        for i, kind in enumerate(kinds):
            xs, heights, err = bars(mine, workloads, kind)
            offset = (i - (len(kinds) - 1) / 2) * width
            ax.bar([x + offset for x in xs], heights, width, yerr=err, capsize=3,
                   color=COLOURS[i % len(COLOURS)], label=kind)
            for x, high in clipped(mine, workloads, kind, top):
                ax.annotate(f"max {high:.2f}", (x + offset, top), xytext=(0, -10),
                            textcoords="offset points", ha="center", fontsize=6)
        ax.axhline(1.0, color="black", linestyle="--", linewidth=1, label="1.0")
        for t, colour in zip(RATIO_TARGETS, TARGET_COLOURS):
            ax.axhline(t.threshold, color=colour, linestyle=":", linewidth=1.2,
                       label=f"{t.threshold:.2f}: {', '.join(t.workloads)}")
        ax.set_ylim(bottom, top)
        ax.set_ylabel("DIX/plain IOPS")
        ax.set_title(f"config {config}", fontsize=10)
        ax.grid(axis="y", linewidth=0.3)
    axes[-1].set_xticks(range(len(workloads)), workloads, rotation=30, ha="right", fontsize=8)
    fig.suptitle("median DIX/plain IOPS ratio per workload (error bars: min–max over rep pairs)",
                 fontsize=11)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 1 - 0.45 / height),
               ncol=min(len(labels), 5), fontsize=7, frameon=False)
    fig.text(0.01, 0.005, footer(bench), fontsize=7, color="dimgray")
    fig.tight_layout(rect=(0, 0.25 / height, 1, 1 - 0.6 / height))
    fig.savefig(path, format="png", metadata={"Software": None})
