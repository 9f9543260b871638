"""`snndeploy devices`: list connected boards (and the simulated device)."""

from __future__ import annotations

import json

import click

from snndeploy.devices import list_devices


@click.command("devices")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def command(as_json):
    """List devices: samna boards (when samna is installed) and the simulator `sim:0`.

    \b
    Example:
      snndeploy devices
      snndeploy devices --json
    """
    listing = list_devices()
    if as_json:
        click.echo(json.dumps(listing.to_dict()))
        return
    for device in listing.devices:
        busy = "  (busy: open in another program)" if device.busy else ""
        serial = f"  serial {device.serial}" if device.serial else ""
        click.echo(f"{device.name:<20} {device.description}{serial}{busy}")
    for backend, reason in listing.unavailable.items():
        click.echo(f"{backend}: {reason}")
