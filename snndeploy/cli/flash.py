"""`snndeploy flash CHIP.json --device NAME`: validate, write and read back a chip configuration."""

from __future__ import annotations

import json

import click

from snndeploy.devices import flash_config


@click.command("flash")
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.option("--device", required=True, help="KIND:INDEX, e.g. speck2fdevkit:0 or sim:0 (see `snndeploy devices`).")
@click.option("--json", "as_json", is_flag=True, help="Print the read-back report as JSON.")
def command(config, device, as_json):
    """Flash CONFIG (a ChipConfig JSON) to DEVICE: checked against the device's chip first,
    read back and compared after; any difference is an error.

    \b
    Example:
      snndeploy flash chip.json --device speck2fdevkit:0
      snndeploy flash chip.json --device sim:0 --json
    """
    report = flash_config(config, device)
    if as_json:
        click.echo(json.dumps(report.to_dict()))
        return
    click.echo(f"flashed {config} to {report.device}: cores {list(report.cores)}, "
               f"{len(report.compared)} fields read back and equal")
