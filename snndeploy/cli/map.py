"""`snndeploy map`: a QuantizedModel (or a checkpoint) -> ChipConfig JSON + resource report."""

from __future__ import annotations

import json
from typing import Optional

import click

from snndeploy.cli.quantize import parse_shape
from snndeploy.mapping import map_to_chip, resource_report
from snndeploy.quantize.files import load_quantized_or_quantize


@click.command("map")
@click.argument("model", metavar="MODEL_OR_Q")
@click.option("--target", "-t", default="speck2f", show_default=True, help="Target name or .toml file.")
@click.option("--input-source", type=click.Choice(["dvs", "external"]), default=None,
              help="Input stage (default: the DVS when the target has one and the input fits it).")
@click.option("--num-classes", type=click.IntRange(min=1), default=None, help="Configure the readout for N classes.")
@click.option("--input-rate", type=click.FloatRange(min=0), default=1e5, show_default=True,
              help="Input events per second for the SynOps/s estimate.")
@click.option("--bandwidth", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Warn when a core's estimated SynOps/s exceeds this.")
@click.option("--input-shape", default=None, help="C,H,W when MODEL is a checkpoint of a Python-file model.")
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False), help="Output chip configuration (.json).")
@click.option("--plot", type=click.Path(dir_okay=False), default=None, help="Also draw memory used / available per core (.png).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def command(model: str, target: str, input_source: Optional[str], num_classes: Optional[int], input_rate: float,
            bandwidth: Optional[float], input_shape: Optional[str], out: str, plot: Optional[str], as_json: bool) -> None:
    """Map MODEL_OR_Q (a `snndeploy quantize` output, or a training checkpoint or .nir file,
    quantized on the fly) to the target's cores and write the chip configuration.

    \b
    Example:
      snndeploy map q.safetensors --target speck2f -o chip.json --plot memory.png
    """
    qmodel = load_quantized_or_quantize(model, target, parse_shape(input_shape))
    config = map_to_chip(qmodel, target, input_source=input_source, num_classes=num_classes)
    report = resource_report(config, target, input_rate_hz=input_rate, bandwidth_limit=bandwidth)
    config.metadata["resources"] = report.to_dict()
    path = config.to_json(out)
    figure = None if plot is None else str(report.plot(plot, f"{config.target}: memory per core"))
    if as_json:
        click.echo(json.dumps({"output": str(path), "plot": figure, "cores": {c.layer_name: c.core for c in config.cores},
                               "resources": report.to_dict()}))
        return
    click.echo(report.table())
    click.echo(f"wrote {path}" + (f" and {figure}" if figure else ""))
