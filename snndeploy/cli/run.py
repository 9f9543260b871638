"""`snndeploy run CHIP.json EVENTS.npz --device NAME -o OUT.npz`: flash, stream events, save spikes."""

from __future__ import annotations

import json
from pathlib import Path

import click

from snndeploy.data.paths import atomic_save_npz
from snndeploy.devices import run_events


@click.command("run")
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.argument("events", type=click.Path(exists=True, dir_okay=False))
@click.option("--device", default="sim:0", show_default=True, help="KIND:INDEX (see `snndeploy devices`).")
@click.option("-o", "--out", type=click.Path(dir_okay=False), default=None,
              help="Write the output spikes (fields t, core, p, y, x) to this .npz (key 'spikes').")
@click.option("--duration-us", type=click.IntRange(min=1), default=None, help="Run time (default: last event + 1).")
@click.option("--timeout-s", type=click.FloatRange(min=0, min_open=True), default=10.0, show_default=True,
              help="Longest wait for the device.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def command(config, events, device, out, duration_us, timeout_s, as_json):
    """Flash CONFIG to DEVICE, send EVENTS (.npz/.npy with fields t, x, y, p), collect output spikes.

    \b
    Example:
      snndeploy run chip.json sample.npz --device sim:0 -o out.npz
      snndeploy run chip.json sample.npz --device speck2fdevkit:0 --json
    """
    result = run_events(config, events, device, duration_us=duration_us, timeout_s=timeout_s)
    if out is not None:
        atomic_save_npz(Path(out), spikes=result.spikes)
    summary = {"device": result.device, "duration_us": result.duration_us, "spikes": int(len(result.spikes)),
               "spikes_per_core": {str(k): v for k, v in result.counts_per_core().items()},
               "out": out}
    if as_json:
        click.echo(json.dumps(summary))
        return
    click.echo(f"{result.device}: {len(result.spikes)} output spikes in {result.duration_us} µs "
               f"(per core: {result.counts_per_core()})" + (f"; wrote {out}" if out else ""))
