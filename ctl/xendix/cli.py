"""The click command line: parse, call, print.  No logic lives here."""

from __future__ import annotations

import textwrap

import click

from . import apply as applying, errors, inventory, monitor as monitoring, output, policy, switch, udev
from .host import Host
from .verdict import VERDICTS

EPILOG = ("Exit codes:\n\n\b\n" + errors.exit_codes_help() +
          "\n\nVerdicts:\n\n\b\n" + textwrap.fill(", ".join(VERDICTS) + " (see README)", 72,
                                                initial_indent="  ", subsequent_indent="  ",
                                                break_on_hyphens=False))


class Group(click.Group):
    """Turns a XendixError into one stderr line and its exit code."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except errors.XendixError as e:
            click.echo(f"xendix: {e}", err=True)
            ctx.exit(e.exit_code)


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@click.group(cls=Group, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def main(ctx: click.Context) -> None:
    """DIX (T10 protection information) for Xen PV disks: which guest disks are
    protected end to end, which are not and why; switch it per disk or by policy."""
    if ctx.obj is None:
        ctx.obj = Host()


@main.command()
@click.argument("domain", required=False)
@click.argument("vdev", required=False)
@json_option
@click.pass_obj
def status(host: Host, domain: str | None, vdev: str | None, as_json: bool) -> None:
    """One row per vbd: states, backing disk and profile, toggle, negotiation,
    verdict and counters."""
    vbds = inventory.status(host, domain, vdev)
    click.echo(output.status_json(vbds) if as_json else output.status_table(vbds))


def _switch_command(enable: bool):
    word = "enable" if enable else "disable"

    @main.command(name=word, help=f"{word.capitalize()} DIX on DOMAIN VDEV (or --all [DOMAIN]). "
                  "Writes data-integrity-enable in the backend; it takes effect at the next "
                  "connect, or now with --now (detach + re-attach, refused for a root disk or "
                  "a disk that is not connected).")
    @click.argument("domain", required=False)
    @click.argument("vdev", required=False)
    @click.option("--all", "every", is_flag=True, help="Every vbd (of DOMAIN if given).")
    @click.option("--now", is_flag=True, help="Detach and re-attach the disk to apply it now.")
    @json_option
    @click.pass_obj
    def command(host: Host, domain, vdev, every: bool, now: bool, as_json: bool) -> None:
        changes, done = switch.switch(host, enable, domain, vdev, every, now)
        click.echo(output.toggle_json(changes, done) if as_json else output.toggle_text(changes, done))

    return command


_switch_command(True)
_switch_command(False)


@main.command()
@json_option
@click.pass_obj
def devices(host: Host, as_json: bool) -> None:
    """dom0 block disks, their integrity profile and the vbds that use them."""
    rows = inventory.devices(host)
    click.echo(output.devices_json(rows) if as_json else output.devices_table(rows))


@main.command()
@click.option("--count", type=click.IntRange(min=1), help="Stop after N events.")
@click.option("--timeout", type=click.FloatRange(min=0), help="Stop after S seconds.")
@json_option
@click.pass_obj
def monitor(host: Host, count: int | None, timeout: float | None, as_json: bool) -> None:
    """Stream vbd add/remove and state changes (udev and xenstore), one line each."""
    for event in monitoring.run(host, count, timeout):
        click.echo(output.event_line(event, as_json))


@main.command(name="apply")
@click.argument("vbd", nargs=-1, required=True)
@click.option("--policy", "policy_path", metavar="PATH",
              help=f"Policy file (default ${policy.ENV} or {policy.DEFAULT_PATH}).")
@click.option("--keep-existing", is_flag=True,
              help="Leave a toggle that is already set (what the udev rule uses).")
@click.option("--wait", type=click.FloatRange(min=0), default=applying.WAIT, show_default=True,
              help="Seconds to wait for the backing device to be known (auto).")
@json_option
@click.pass_obj
def apply_command(host: Host, vbd: tuple[str, ...], policy_path: str | None,
                  keep_existing: bool, wait: float, as_json: bool) -> None:
    """Apply the policy to one VBD: DOMID/DEVID, vbd-DOMID-DEVID or DOMAIN VDEV."""
    pol = policy.load(policy_path)
    domid, devid = applying.target(host, vbd)
    done = applying.apply(host, pol, domid, devid, keep_existing, wait)
    click.echo(output.applied_json(done) if as_json else output.applied_text(done))


@main.group(name="policy", cls=Group)
def policy_group() -> None:
    """The DIX policy file."""


@policy_group.command(name="check")
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


@udev_group.command(name="install")
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
