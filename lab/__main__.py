"""Drive the lab by hand.

    python -m lab list
    python -m lab build [--series SERIES]
    python -m lab run SCENARIO [--series SERIES] [--patch-dir DIR] [--set KEY=VALUE]... [--json]

SERIES is a folder of patches/ (the oldest by default).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from .host import job, runner, series
from .host.errors import LabError


def param(text: str) -> tuple[str, str]:
    """KEY=VALUE, both plain words (they reach dom0 in the job)."""
    k, sep, v = text.partition("=")
    if not sep or not re.fullmatch(r"[a-z][a-z0-9_]*", k) or not re.fullmatch(r"[A-Za-z0-9_.,:-]*", v):
        raise argparse.ArgumentTypeError(f"not KEY=VALUE (lower-case key, plain value): {text!r}")
    return k, v


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the scenarios")
    b = sub.add_parser("build", help="build the modules and images only")
    b.add_argument("--series", default=series.default(), choices=series.names())
    r = sub.add_parser("run", help="boot the lab and run a scenario")
    r.add_argument("scenario")
    r.add_argument("--series", default=series.default(), choices=series.names())
    r.add_argument("--patch-dir", type=Path, default=None,
                   help="a patch series to build instead of patches/SERIES")
    r.add_argument("--set", dest="params", action="append", default=[], metavar="KEY=VALUE",
                   type=param, help="a parameter the scenario reads (labguest.param)")
    r.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)

    try:
        if args.command == "list":
            for name in job.available():
                print(f"{name}: {job.Scenario.load(name).description.splitlines()[0]}")
            return 0
        if args.command == "build":
            target = runner.prepare(args.series)
            for key in ("abi", "xen", "kernel", "initrd", "rootfs"):
                print(f"{key}: {getattr(target, key)}")
            for flavour, build in target.builds.items():
                print(f"modules ({flavour}): {build.directory}")
            print(f"timings: {target.timings}")
            return 0
        result = runner.run(args.scenario, args.series, patch_dir=args.patch_dir,
                            params=dict(args.params))
    except LabError as e:
        print(f"lab: {e.headline}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"facts": result.facts, "checks": result.checks,
                          "timings": result.timings}, indent=2, default=str))
    else:
        for c in result.checks:
            print(f"{'PASS' if c['ok'] else 'FAIL'}  {c['name']}")
        print(f"timings: {result.timings}")
        print(f"artifacts: {result.artifacts}")
    return 1 if result.failed else 0


if __name__ == "__main__":
    sys.exit(main())
