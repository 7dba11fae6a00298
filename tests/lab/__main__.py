"""Drive the lab by hand.

    python -m tests.lab list
    python -m tests.lab build [--series 6.1]
    python -m tests.lab run SCENARIO [--series 6.1] [--patch-dir DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import job, kmod, qemu, runner


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.lab", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the scenarios")
    b = sub.add_parser("build", help="build the modules and images only")
    b.add_argument("--series", default="6.1", choices=("6.1", "6.12"))
    r = sub.add_parser("run", help="boot the lab and run a scenario")
    r.add_argument("scenario")
    r.add_argument("--series", default="6.1", choices=("6.1", "6.12"))
    r.add_argument("--patch-dir", type=Path, default=None,
                   help="a patch series to build instead of patches/SERIES")
    r.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)

    try:
        if args.command == "list":
            for name in job.available():
                print(f"{name}: {job.Scenario.load(name).description.splitlines()[0]}")
            return 0
        if args.command == "build":
            ready = runner.prepare(args.series)
            for key in ("abi", "xen", "kernel", "initrd", "rootfs"):
                print(f"{key}: {ready[key]}")
            for flavour, build in ready["builds"].items():
                print(f"modules ({flavour}): {build.directory}")
            print(f"timings: {ready['timings']}")
            return 0
        result = runner.run(args.scenario, args.series, patch_dir=args.patch_dir)
    except (ValueError, kmod.BuildError, qemu.LabError) as e:
        print(f"lab: {e}", file=sys.stderr)
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
