"""`snndeploy verify MODEL --target speck2f --data digits`: float vs quantized vs chip, as a CI gate."""

from __future__ import annotations

import json

import click

from snndeploy.errors import SnnDeployError
from snndeploy.sim.verify import verify


@click.command("verify")
@click.argument("model", metavar="MODEL")
@click.option("--target", default="speck2f", show_default=True, help="Chip target name or target file.")
@click.option("--data", default="digits", show_default=True, help="Dataset name (snndeploy.data).")
@click.option("--split", type=click.Choice(["train", "test"]), default="test", show_default=True)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Use only the first N samples.")
@click.option("--dt-us", type=click.IntRange(min=1), default=None, help="Time-bin width (default: the dataset's).")
@click.option("--tolerance", type=click.FloatRange(min=0.0), default=None,
              help="Fail when |accuracy(float) - accuracy(chip)| exceeds this (e.g. 0.02).")
@click.option("--hop-delay-us", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def command(model, target, data, split, limit, dt_us, tolerance, hop_delay_us, as_json):
    """Run MODEL (a checkpoint, run folder or .nir file) as float, QuantizedModel, time-stepped and per-event chip
    simulation on the same samples; print one table. Exit 1 when the time-stepped simulation
    differs from the QuantizedModel in any spike, or the float-vs-chip accuracy gap exceeds
    --tolerance.

    \b
    Example:
      snndeploy verify runs/digits --target speck2f --data digits --limit 50 --tolerance 0.05
    """
    options = {} if dt_us is None else {"dt_us": dt_us}
    report = verify(model, target, data, split=split, limit=limit, tolerance=tolerance,
                    hop_delay_us=hop_delay_us, **options)
    click.echo(json.dumps(report.to_dict()) if as_json else report.table())
    if not report.passed:
        raise SnnDeployError("verification failed: " + "; ".join(report.failures))
