"""`snndeploy targets`: list the chip targets, or show one."""

from __future__ import annotations

import json
from typing import Optional

import click

from snndeploy.targets import available_targets, load_target


@click.command("targets")
@click.argument("name", required=False, metavar="[NAME_OR_TOML]")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def command(name: Optional[str], as_json: bool) -> None:
    """List the chip targets (built in, and in $SNNDEPLOY_TARGETS folders), or show one.

    \b
    Examples:
      snndeploy targets
      snndeploy targets speck2f --json
      snndeploy targets examples/targets/lif_bitshift.toml
    """
    if name is None:
        listing = {key: {"file": str(path), "description": load_target(path).description}
                   for key, path in available_targets().items()}
        if as_json:
            click.echo(json.dumps(listing))
            return
        for key, item in listing.items():
            click.echo(f"{key:<12} {item['description']}")
        return
    summary = load_target(name).summary()
    if as_json:
        click.echo(json.dumps(summary))
        return
    click.echo(f"{summary['name']}: {summary['description']}\nfile: {summary['file']}")
    neuron, precision, limits = summary["neuron"], summary["precision"], summary["limits"]
    click.echo(f"neuron: {neuron['model']}, resets {', '.join(neuron['resets'])}, leak {neuron['leak']}")
    click.echo(f"bits: weights {precision['weight_bits']}, biases {precision['bias_bits']}, state {precision['state_bits']}")
    click.echo("limits: " + ", ".join(f"{key} {value}" for key, value in limits.items()))
    click.echo(f"memory rounding: {summary['memory_rounding']}")
    click.echo("input: " + ", ".join(f"{key} {value}" for key, value in summary["input"].items() if value is not None))
    readout = summary["readout"]
    click.echo("readout: none" if readout is None else "readout: " + ", ".join(f"{key} {value}" for key, value in readout.items()))
    click.echo(f"{'core':>4} {'kernel':>8} {'neuron':>8} {'bias':>6}")
    for core in summary["cores"]:
        click.echo(f"{core['index']:>4} {core['kernel_memory']:>8} {core['neuron_memory']:>8} {core['bias_memory']:>6}")
