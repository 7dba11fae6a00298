"""The DIX/plain benchmark, from the host.

\b
    python -m bench report SUMMARY.json [--out DIR]
    python -m bench run [--series S]... [--results DIR]

report writes results.md, results.json and ratios.png (into
bench/results/<series>/ by default) and prints the Markdown; run boots the
lab's bench scenario for each series (the oldest by default) and reports
each.  A bad argument is one line on stderr and exit status 2; a summary
the report cannot use, or a run that failed, exit status 1.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from . import report, runner
from .report import BenchError

PROG = "python -m bench"
NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


@click.group(help=__doc__, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    pass


@cli.command("report")
@click.argument("summary", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="where the three files go [bench/results/<series>]")
def report_command(summary: Path, out: Path | None) -> int:
    """Turn a bench summary.json into results.md, results.json and ratios.png."""
    bench = report.load(summary)
    out = out or runner.RESULTS / bench.series
    click.echo(report.write(bench, out), nl=False)
    click.echo(f"bench: wrote {out}/results.md, results.json, ratios.png", err=True)
    return 0


@cli.command("run")
@click.option("--series", "series", multiple=True, metavar="S",
              help="a kernel series (repeat for more) [every series]")
@click.option("--smoke", is_flag=True,
              help="the short run CI does: one configuration, two workloads, one repetition")
@click.option("--results", type=click.Path(file_okay=False, path_type=Path),
              default=runner.RESULTS, help="the reports go to RESULTS/<series> [bench/results]")
def run_command(series: tuple[str, ...], smoke: bool, results: Path) -> int:
    """Boot the lab's bench scenario for each series, then report each."""
    known = runner.known_series()
    wanted = list(dict.fromkeys(series)) or known
    try:
        runner.check_series(wanted, known)
    except BenchError as e:
        raise click.BadParameter(str(e), param_hint="'--series'") from None
    status = 0
    for s in wanted:
        try:
            rc, text = runner.run_series(s, results, smoke=smoke)
        except BenchError as e:
            click.echo(f"bench: {e}", err=True)
            status = 1
            continue
        click.echo(text, nl=False)
        click.echo(f"bench: wrote {results / s}/results.md, results.json, ratios.png", err=True)
        if rc:
            click.echo(f"bench: the lab's bench run for series {s} failed (exit status {rc}); "
                       "its runs are reported above", err=True)
            status = 1
    return status


def one_line(message: str) -> str:
    return " ".join(part.strip() for part in message.splitlines() if part.strip())


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    try:
        rv = cli.main(args=argv, prog_name=PROG, standalone_mode=False)
    except NO_ARGS_IS_HELP as e:
        e.show()
        return e.exit_code
    except click.ClickException as e:
        click.echo(f"bench: {one_line(e.format_message())}", err=True)
        return e.exit_code
    except BenchError as e:
        click.echo(f"bench: {e}", err=True)
        return 1
    except click.Abort:
        return 130
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":
    sys.exit(main())
