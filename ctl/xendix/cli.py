"""The click command line: parse, call, print.  No logic lives here.

A command that reads the system is an :class:`XenCommand`: its command line
is checked first, every argument by its type, then across arguments by its
``check`` (a usage error, 2), then root (3), dom0 (5) and xenstored (4),
and only then does its callback run (policy 7, targets 6, refusals 8).
:mod:`errors` has the whole order.  Usage errors are one line, as every
error; Ctrl-C exits 130.
"""

from __future__ import annotations

import sys
import textwrap
from typing import Any, Callable

import click

from . import (apply as applying, domains, errors, inventory, monitor as monitoring, output, policy,
               switch, udev)
from .digits import decimal, seconds
from .host import Host
from .vdev import VdevError, to_devid
from .verdict import VERDICTS

PACKAGE = "xen-dix"  # pyproject.toml's project name
# click >= 8.2 raises this for a group run without a command; it shows the help
NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())

EPILOG = ("Exit codes:\n\n\b\n" + errors.exit_codes_help() +
          "\n\nVerdicts:\n\n\b\n" + textwrap.fill(", ".join(VERDICTS) + " (see README)", 72,
                                                initial_indent="  ", subsequent_indent="  ",
                                                break_on_hyphens=False))


def package_version() -> str:
    """The installed xen-dix's version (not installed: run from a checkout)."""
    import importlib.metadata  # 50 ms: only for --version, not for every udev event

    try:
        return importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def show_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """``--version``, as click's version_option, but looked up only when asked."""
    if value and not ctx.resilient_parsing:
        click.echo(f"xendix, version {package_version()}")
        ctx.exit()


def examples(*commands: str) -> str:
    """An epilog of example command lines, which click prints as they are."""
    return "Examples:\n\n\b\n" + "\n".join(f"  {c}" for c in commands)


def one_line(message: str) -> str:
    """A click message as xendix says things: one line, lower-case, no final period."""
    text = " ".join(line.strip() for line in message.splitlines() if line.strip()).removesuffix(".")
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


class Group(click.Group):
    """Turns a XendixError into one stderr line and its exit code."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except errors.XendixError as e:
            click.echo(f"xendix: {e}", err=True)
            ctx.exit(e.exit_code)

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        """click's main, but a usage error is one line and Ctrl-C a quiet 130."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, False, **extra)
        except NO_ARGS_IS_HELP as e:
            e.show()
            sys.exit(e.exit_code)
        except click.ClickException as e:
            click.echo(f"xendix: {one_line(e.format_message())}", err=True)
            sys.exit(e.exit_code)
        except click.Abort:  # Ctrl-C: click has ended the ^C line
            sys.exit(errors.INTERRUPTED)
        sys.exit(rv if isinstance(rv, int) else errors.OK)  # an int: from ctx.exit()


class XenCommand(click.Command):
    """A command that reads the system: ``check(params)`` (Usage across
    arguments), then root, dom0 and xenstored, then its callback."""

    def __init__(self, *args: Any, check: Callable[[dict[str, Any]], None] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.check = check

    def invoke(self, ctx: click.Context) -> Any:
        if self.check is not None:
            self.check(ctx.params)
        ctx.obj.store()
        return super().invoke(ctx)


class DomainType(click.ParamType):
    """DOMAIN: a name, or a domid in ASCII digits."""

    name = "domain"

    def convert(self, value: str, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            domains.domid_of(value)
        except errors.Usage as e:
            self.fail(str(e), param, ctx)
        return value


class VdevType(click.ParamType):
    """VDEV: a disk name (xvdb, d1, hda...) or a devid in ASCII digits."""

    name = "vdev"

    def convert(self, value: str, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            to_devid(value)
        except VdevError as e:
            self.fail(str(e), param, ctx)
        return value


class Count(click.IntRange):
    """A whole number in ASCII digits (``int()`` takes ``５`` too)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and decimal(value) is None:
            self.fail(f"{value!r} is not a whole number in ASCII digits", param, ctx)
        return super().convert(value, param, ctx)


class Seconds(click.FloatRange):
    """Seconds in ASCII digits, maybe with a point: no nan, no inf."""

    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and seconds(value) is None:
            self.fail(f"{value!r} is not a number of seconds (ASCII digits, maybe a point)", param, ctx)
        return super().convert(value, param, ctx)


class Columns(click.ParamType):
    """``status -o``: a comma list of columns, or ``+COL,...`` added to the default."""

    name = "columns"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return output.status_columns(value)
        except ValueError as e:
            self.fail(str(e), param, ctx)


DOMAIN, VDEV = DomainType(), VdevType()
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def policy_option(what: str) -> Callable:
    return click.option("--policy", "policy_path", metavar="PATH",
                        help=f"{what} (default ${policy.ENV} or {policy.DEFAULT_PATH}).")


@click.group(cls=Group, name="xendix", epilog=EPILOG,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, is_eager=True, expose_value=False, callback=show_version,
              help="Show the version and exit.")
@click.pass_context
def main(ctx: click.Context) -> None:
    """DIX (T10 protection information) for Xen PV disks: which guest disks are
    protected end to end, which are not and why; switch it per disk or by policy."""
    if ctx.obj is None:
        ctx.obj = Host()


@main.command(cls=XenCommand, epilog=examples(
    "xendix status", "xendix status web", "xendix status web xvdb --json", "xendix status -o +WHY",
    "xendix status -o domain,vdev,backend,frontend,verdict,why",
    "xendix status --check >/dev/null || echo 'a disk is not protected'"))
@click.argument("domain", required=False, type=DOMAIN)
@click.argument("vdev", required=False, type=VDEV)
@click.option("-o", "--output", "columns", type=Columns(), default=",".join(output.STATUS_DEFAULT),
              help=f"Table columns, comma-separated, of {', '.join(output.STATUS_COLUMNS)}; "
              f"+COL,... adds to the default: {', '.join(output.STATUS_DEFAULT)}.")
@click.option("--check", is_flag=True, help=f"Exit {errors.UNPROTECTED} when a disk that the policy "
              "wants protected is not, or any disk is profile-changed (for monitoring).")
@policy_option("The policy --check holds the disks to")
@json_option
@click.pass_obj
def status(host: Host, domain: str | None, vdev: str | None, columns: tuple[str, ...], check: bool,
           policy_path: str | None, as_json: bool) -> None:
    """One row per vbd: its backing disk and profile, the admin toggle, the
    verdict and blkback's DIX counters (more with -o: states, negotiation, why)."""
    pol = policy.load(policy_path) if check else None
    vbds = inventory.status(host, domain, vdev)
    click.echo(output.status_json(vbds) if as_json else output.status_table(vbds, columns))
    if pol is not None:
        applying.check(host, pol, vbds)


def _switch_command(enable: bool):
    word = "enable" if enable else "disable"

    @main.command(name=word, cls=XenCommand,
                  check=lambda p: switch.check_args(p["domain"], p["vdev"], p["every"]),
                  help=f"{word.capitalize()} DIX on DOMAIN VDEV (or --all [DOMAIN]). "
                  "Writes data-integrity-enable in the backend; it takes effect at the next "
                  "connect, or now with --now (detach + re-attach, refused for a root disk or "
                  "a disk that is not connected).",
                  epilog=examples(f"xendix {word} web xvdb", f"xendix {word} --now web xvdb",
                                  f"xendix {word} 3 51728 --json", f"xendix {word} --all web",
                                  f"xendix {word} --all"))
    @click.argument("domain", required=False, type=DOMAIN)
    @click.argument("vdev", required=False, type=VDEV)
    @click.option("--all", "every", is_flag=True, help="Every vbd (of DOMAIN if given).")
    @click.option("--now", is_flag=True,
                  help="Apply it now: detach the disk, then re-attach it with libxl's config "
                  "of it (xl list -l); the guest is paused for the attach and the toggle "
                  "write (xl pause/unpause, unpaused on every error too).")
    @json_option
    @click.pass_obj
    def command(host: Host, domain, vdev, every: bool, now: bool, as_json: bool) -> None:
        changes, done = switch.switch(host, enable, domain, vdev, every, now)
        click.echo(output.toggle_json(changes, done) if as_json else output.toggle_text(changes, done))

    return command


_switch_command(True)
_switch_command(False)


@main.command(cls=XenCommand, epilog=examples("xendix devices", "xendix devices --json"))
@json_option
@click.pass_obj
def devices(host: Host, as_json: bool) -> None:
    """dom0 block disks, their integrity profile and the vbds that use them."""
    rows = inventory.devices(host)
    click.echo(output.devices_json(rows) if as_json else output.devices_table(rows))


@main.command(cls=XenCommand, epilog=examples(
    "xendix monitor", "xendix monitor --json", "xendix monitor --count 1 --timeout 30",
    "xendix monitor --source kernel --json"))
@click.option("--count", type=Count(min=1), help="Stop after N events.")
@click.option("--timeout", type=Seconds(min=0), help="Stop after S seconds.")
@click.option("--source", type=click.Choice(monitoring.SOURCES), default="auto", show_default=True,
              help="Where uevents come from: udev (udevd's), kernel (its netlink socket, "
                   "through pyroute2), auto (udev if udevd runs, else kernel).")
@json_option
@click.pass_obj
def monitor(host: Host, count: int | None, timeout: float | None, source: str,
            as_json: bool) -> None:
    """Stream, one line each with a zone-aware time, every vbd added or removed
    (uevents and xenstore), every change of a backend or frontend node that
    decides DIX (states, offer, opt-in, confirmed format, toggle), every
    verdict change, and blkback's DIX uevents (integrity-error with its count
    and kind, unprotected, rejected, profile-change)."""
    for event in monitoring.run(host, count, timeout, source):
        click.echo(output.event_line(event, as_json))


def exporting() -> Any:
    """:mod:`xendix.exporter`, loaded for its command only (prometheus_client
    takes some 80 ms to import: not for every udev event)."""
    try:
        from . import exporter
    except ImportError as e:
        raise errors.XendixError(f"the exporter needs prometheus_client ({e}): pip install "
                                 "prometheus_client, or apt install python3-prometheus-client")
    return exporter


class ListenType(click.ParamType):
    """``exporter --listen``: ADDR:PORT, an IPv6 address in brackets."""

    name = "addr:port"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        try:
            return exporting().parse_listen(value)
        except ValueError as e:
            self.fail(str(e), param, ctx)


@main.command(name="exporter", cls=XenCommand,
              check=lambda p: exporting().check_args(p["listen"], p["textfile"], p["interval"]),
              epilog=examples("xendix exporter --listen 127.0.0.1:9200",
                              "xendix exporter --listen [::]:9200",
                              "xendix exporter --textfile /var/lib/prometheus/node-exporter",
                              "xendix exporter --textfile /var/lib/prometheus/node-exporter "
                              "--interval 60"))
@click.option("--listen", type=ListenType(), metavar="ADDR:PORT",
              help="Serve /metrics over HTTP on ADDR:PORT (:PORT is every IPv4 address, "
              "[::]:PORT every address).")
@click.option("--textfile", type=click.Path(file_okay=False), metavar="DIR",
              help="Write DIR/xendix.prom for node_exporter's textfile collector.")
@click.option("--interval", type=Seconds(min=0, min_open=True),
              help="With --textfile: write it again every SECONDS (default: once).")
@click.pass_obj
def exporter_command(host: Host, listen: tuple[str, int] | None, textfile: str | None,
                     interval: float | None) -> None:
    """Prometheus metrics: blkback's counters and the verdict of each vbd,
    the integrity profile of each dom0 disk; one snapshot per scrape."""
    def warn(message: str) -> None:
        click.echo(f"xendix: scrape failed: {message}", err=True)

    exporter = exporting()
    if listen is not None:
        server = exporter.listen(host, *listen, on_error=warn)
        click.echo(f"serving {exporter.url(server)}")
        exporter.serve(server)
    elif interval is not None:
        click.echo(f"writing {exporter.textfile_path(textfile)} every {interval:g} s")
        exporter.textfile(host, textfile, interval, warn)
    else:
        click.echo(f"wrote {exporter.textfile(host, textfile, None, warn)}")


@main.command(name="apply", cls=XenCommand,
              check=lambda p: applying.check_target(p["vbd"], p["vdev"]),
              epilog=examples("xendix apply vbd-3-51728", "xendix apply 3/51728 --json",
                              "xendix apply web xvdb --policy /etc/xendix/test.toml",
                              "xendix apply --keep-existing --wait 30 vbd-3-51728"))
@click.argument("vbd", metavar="VBD|DOMAIN")
@click.argument("vdev", required=False, type=VDEV)
@policy_option("Policy file")
@click.option("--keep-existing", is_flag=True,
              help="Leave a toggle that is already set (what the udev rule uses).")
@click.option("--wait", type=Seconds(min=0), default=applying.WAIT, show_default=True,
              help="Seconds to wait for the backing device to be known (auto).")
@json_option
@click.pass_obj
def apply_command(host: Host, vbd: str, vdev: str | None, policy_path: str | None,
                  keep_existing: bool, wait: float, as_json: bool) -> None:
    """Apply the policy to one vbd: DOMID/DEVID, vbd-DOMID-DEVID or DOMAIN VDEV."""
    pol = policy.load(policy_path)
    domid, devid = applying.target(host, vbd, vdev)
    done = applying.apply(host, pol, domid, devid, keep_existing, wait)
    click.echo(output.applied_json(done) if as_json else output.applied_text(done))


@main.group(name="policy", cls=Group)
def policy_group() -> None:
    """The DIX policy file."""


@policy_group.command(name="check", epilog=examples(
    "xendix policy check", "xendix policy check /etc/xendix/policy.toml"))
@click.argument("path", required=False)
@click.pass_context
def policy_check(ctx: click.Context, path: str | None) -> None:
    """Validate a policy file without applying it (PATH, else $XENDIX_POLICY or
    /etc/xendix/policy.toml): one line per problem, exit 7 if there is any."""
    found = policy.check(path)
    for line in found.lines():
        click.echo(line, err=not found.ok)
    if not found.ok:
        ctx.exit(errors.BAD_POLICY)


@main.group(name="udev", cls=Group)
def udev_group() -> None:
    """The udev rule that applies the policy to every new vbd."""


@udev_group.command(name="install", epilog=examples(
    "xendix udev install",
    "xendix udev install --policy /etc/xendix/policy.toml --log /var/log/xendix-udev.log",
    "xendix udev install --command /usr/local/bin/xendix"))
@click.option("--prefix", default="/", show_default=True, help="Install under this root.")
@click.option("--command", "command", help="The xendix command udev runs (absolute).")
@click.option("--policy", "policy_path", metavar="PATH", help="Pin this policy file in the rule.")
@click.option("--log", metavar="FILE", help="Append apply's output to FILE.")
@click.pass_obj
def udev_install(host: Host, prefix: str, command: str | None, policy_path: str | None,
                 log: str | None) -> None:
    """Install the rule (65-xendix.rules) and reload udev."""
    done = udev.install(host, prefix, command, policy_path, log)
    click.echo(f"installed {done.path} (runs {done.command})"
               + ("; udev reloaded" if done.reloaded else ""))


# -- the eBPF tools (bcc; xendix.probes) -------------------------------------------

def probes(name: str) -> Any:
    """A module of :mod:`xendix.probes`, loaded for its command only."""
    import importlib

    return importlib.import_module(f"{__package__}.probes.{name}")


probe_json = click.option("-j", "--json", "as_json", is_flag=True, help="Print JSON lines.")
probe_guest = click.option("--guest", is_flag=True,
                           help="Inside a PV domU: blkfront's tracepoints (DOMAIN is the backend's "
                           "domid), and reads failing the guest's own PI verify (kprobes).")
probe_interval = click.argument("interval", required=False, type=Seconds(min=0, min_open=True))
probe_count = click.argument("count", required=False, type=Count(min=1))


@main.command(name="top", epilog=examples("xendix top", "xendix top -C 5", "xendix top 5 10",
                                          "xendix top -j 1 3", "xendix top --guest"))
@click.option("-C", "--noclear", is_flag=True, help="Don't clear the screen.")
@probe_guest
@probe_json
@probe_interval
@probe_count
@click.pass_obj
def top_command(host: Host, noclear: bool, guest: bool, as_json: bool, interval: float | None,
                count: int | None) -> None:
    """Per vbd every INTERVAL seconds (1), COUNT times: DIX and unprotected
    requests, rejected pairs, integrity errors by kind, KB/s and the share
    of PI bytes, from blkback's tracepoints (bcc)."""
    probes("top").run(host, guest, 1.0 if interval is None else interval, count, as_json,
                      click.echo, None if noclear or as_json else click.clear)


@main.command(name="snoop", epilog=examples("xendix snoop", "xendix snoop -j",
                                            "xendix snoop --guest"))
@probe_guest
@probe_json
@click.pass_obj
def snoop_command(host: Host, guest: bool, as_json: bool) -> None:
    """One line per integrity error, unprotected request and rejected pair
    (--guest: refused pair and failed verify), as it happens (bcc)."""
    probes("snoop").run(host, guest, as_json, click.echo)


@main.command(name="dixlat", epilog=examples("xendix dixlat", "xendix dixlat 1 10",
                                             "xendix dixlat -j 5", "xendix dixlat --guest"))
@probe_guest
@probe_json
@probe_interval
@probe_count
@click.pass_obj
def dixlat_command(host: Host, guest: bool, as_json: bool, interval: float | None,
                   count: int | None) -> None:
    """Request latency histograms (log2 usecs) per vbd, DIX and plain apart,
    every INTERVAL seconds COUNT times, or once at Ctrl-C (bcc)."""
    probes("dixlat").run(host, guest, interval, count, as_json, click.echo)
