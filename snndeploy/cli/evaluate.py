"""`snndeploy evaluate`: accuracy and per-layer firing rates of a trained network."""

from __future__ import annotations

import json

import click

from snndeploy.layers import BACKENDS
from snndeploy.train.run import run_evaluation


@click.command("evaluate")
@click.argument("model", metavar="MODEL")
@click.option("--data", default=None,
              help="Dataset name (default for a checkpoint: the one it was trained on).")
@click.option("--split", type=click.Choice(["train", "test"]), default="test", show_default=True)
@click.option("--data-root", type=click.Path(file_okay=False), default=None,
              help="Folder holding a downloaded dataset (tonic datasets).")
@click.option("--dt-us", type=click.IntRange(min=1), default=None,
              help="Time-bin width in microseconds (default: as trained).")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Evaluate only the first N samples.")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda.")
@click.option("--backend", type=click.Choice(sorted(BACKENDS)), default=None,
              help="Run the neuron layers with this backend instead of the trained one.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def command(ctx: click.Context, model: str, as_json: bool, **options) -> None:
    """Evaluate MODEL: a training folder (its latest epoch), an epoch-NNNN.safetensors
    checkpoint, a .nir file or a quantized .safetensors (the last two need --data).

    \b
    Examples:
      snndeploy evaluate runs/digits --split test
      snndeploy evaluate model.nir --data digits --backend bptt
    """
    verbosity = (ctx.obj or {}).get("verbosity", 0)
    result = run_evaluation(model, progress=verbosity >= 0 and not as_json, **options)
    if as_json:
        click.echo(json.dumps(result))
        return
    epoch = "" if result["epoch"] is None else f" (epoch {result['epoch']})"
    click.echo(f"{result['checkpoint']}{epoch} on {result['data']} "
               f"{result['split']}: accuracy {result['accuracy']:.4f} over {result['samples']} "
               "samples")
    if not result["firing_rates"]:
        click.echo("no neuron layers to report firing rates of (a quantization-aware network "
                   "runs its neurons inside one module; EventProp and FP networks have no "
                   "time-stepped neuron layers)")
        return
    click.echo("firing rate (spikes per neuron per time step):")
    width = max((len(name) for name in result["firing_rates"]), default=0)
    for name, rate in result["firing_rates"].items():
        click.echo(f"  {name:<{width}}  {rate:.4f}")
