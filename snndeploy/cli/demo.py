"""`snndeploy demo`: the whole pipeline on the shipped dataset, one table and PNG plots."""

from __future__ import annotations

import json

import click


@click.command(name="demo")
@click.option("--target", default="speck2f", show_default=True, help="Chip target to deploy to.")
@click.option("--dataset", default="digits", show_default=True,
              help="Dataset: 'digits' ships with snndeploy; nmnist, dvsgesture and shd are read "
                   "through tonic from disk.")
@click.option("--fast", is_flag=True, help="Small run for CI: a subset and one epoch (< 60 s).")
@click.option("--out", "out_dir", default="snndeploy-demo", show_default=True,
              type=click.Path(file_okay=False), help="Folder for plots, chip.json and result.json.")
@click.option("--seed", default=0, show_default=True, help="Seed of weights and data order.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON instead of a table.")
@click.pass_context
def command(ctx: click.Context, target: str, dataset: str, fast: bool, out_dir: str, seed: int,
            as_json: bool) -> None:
    """Train a spiking CNN, quantize it, map it onto a chip and simulate it bit-accurately.

    Prints float, quantized and chip-simulated accuracy (time-stepped and per event), cores
    used, memory, SynOps and each stage's time, and writes PNG plots to --out.
    The shipped 'digits' dataset (UCI handwritten digits as DVS events) stands in for N-MNIST.

    \b
    Example:
        snndeploy demo --fast --out demo-run
    """
    from snndeploy.demo import run_demo

    verbosity = (ctx.obj or {}).get("verbosity", 0)
    chatty = verbosity >= 0 and not as_json
    result = run_demo(
        target=target, dataset=dataset, fast=fast, out_dir=out_dir, seed=seed,
        progress=chatty, say=lambda line: click.echo(line, err=True) if chatty else None,
    )
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(result.table())
        click.echo(f"plots and results in {out_dir}/")
