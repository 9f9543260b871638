"""The `snndeploy` command line: one click group, one module per command.

Commands parse options, call the public API and print; they hold no logic of their own.
Exit codes: 0 ok, 1 user error (`SnnDeployError`: one line, no traceback unless --debug),
2 usage error (click's own).
"""

from __future__ import annotations

import importlib
import sys

import click

from snndeploy._version import __version__
from snndeploy.errors import SnnDeployError

# Each module defines one click command (or group) named `command` and is added in this order.
COMMAND_MODULES: tuple[str, ...] = (
    "snndeploy.cli.train",
    "snndeploy.cli.evaluate",
    "snndeploy.cli.quantize",
    "snndeploy.cli.map",
    "snndeploy.cli.targets",
    "snndeploy.cli.demo",
    "snndeploy.cli.simulate",
    "snndeploy.cli.verify",
    "snndeploy.cli.export",
    "snndeploy.cli.devices",
    "snndeploy.cli.flash",
    "snndeploy.cli.run",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="snndeploy")
@click.option("--debug", is_flag=True, help="Show full tracebacks for errors.")
@click.option("-v", "--verbose", count=True, help="More output (repeatable).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors and the final result.")
@click.pass_context
def app(ctx: click.Context, debug: bool, verbose: int, quiet: bool) -> None:
    """snndeploy: train spiking networks and deploy them to neuromorphic chips.

    \b
    Pipeline: train -> quantize -> map -> simulate / verify -> export -> flash.
    Run `snndeploy COMMAND --help` for each command, with an example.
    """
    ctx.ensure_object(dict)
    ctx.obj.update(debug=debug, verbosity=-1 if quiet else verbose)


for _name in COMMAND_MODULES:
    app.add_command(importlib.import_module(_name).command)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the installed `snndeploy` command and of `python cli.py`."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        app.main(args=args, prog_name="snndeploy", standalone_mode=False)
    except SnnDeployError as err:
        if debug:
            raise
        click.secho(f"error: {err}", err=True, fg="red")
        sys.exit(1)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    sys.exit(0)
