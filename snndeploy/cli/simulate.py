"""`snndeploy simulate CHIP.json EVENTS.npz`: run the chip simulator on one event file."""

from __future__ import annotations

import json

import click

from snndeploy.sim.simulate import MODES, Monitor, simulate


def _parse_neuron(text: str) -> tuple[int, int, int, int]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4:
        raise click.BadParameter(f"{text!r}: expected CORE,CHANNEL,Y,X (four integers)")
    return values


@click.command("simulate")
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.argument("events", type=click.Path(exists=True, dir_okay=False))
@click.option("--mode", type=click.Choice(sorted(MODES)), default="event", show_default=True,
              help="event: the chip (one spike per update); timestep: binned, multi-spike.")
@click.option("--dt-us", type=int, default=None, help="Time-step width (default: slow-clock period).")
@click.option("--duration-us", type=int, default=None, help="Simulated time (default: last event + 1).")
@click.option("--hop-delay-us", type=int, default=0, show_default=True, help="Delay of each core-to-core hop.")
@click.option("--monitor-core", "monitor_cores", type=int, multiple=True,
              help="Return output spikes of this core (repeatable; default: the config's monitored cores).")
@click.option("--probe", "probes", multiple=True, metavar="CORE,C,Y,X",
              help="Sample this neuron's state at each --probe-time (repeatable).")
@click.option("--probe-time", "probe_times", type=int, multiple=True, help="Time in µs (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the full result as JSON.")
def command(config, events, mode, dt_us, duration_us, hop_delay_us, monitor_cores, probes, probe_times, as_json):
    """Simulate CONFIG (a ChipConfig JSON) on EVENTS (.npz/.npy with fields t, x, y, p).

    \b
    Example:
      snndeploy simulate chip.json sample.npz
      snndeploy simulate chip.json sample.npz --mode timestep --json
      snndeploy simulate chip.json sample.npz --probe 0,1,4,4 --probe-time 1000 --probe-time 5000
    """
    monitor = Monitor(
        cores=tuple(monitor_cores) if monitor_cores else None,
        neurons=tuple(_parse_neuron(p) for p in probes),
        times=tuple(sorted(probe_times)),
    )
    result = simulate(config, events, mode, monitor, duration_us=duration_us, dt_us=dt_us, hop_delay_us=hop_delay_us)
    if as_json:
        click.echo(json.dumps(result.to_dict()))
        return
    click.echo(f"mode {result.mode}, {result.duration_us} µs simulated")
    click.echo("core | output spikes | SynOps | SynOps/s")
    for index, counts in result.counts.items():
        flag = "  OVER BANDWIDTH" if index in result.over_bandwidth else ""
        click.echo(f"{index:>4} | {int(counts.sum()):>13} | {result.synops[index]:>6} | "
                   f"{result.synops_per_s[index]:.3g}{flag}")
    if result.class_counts.size:
        click.echo(f"class spike counts: {result.class_counts.tolist()}")
        click.echo(f"prediction: {result.prediction if result.prediction >= 0 else 'none (no output spike)'}")
    if len(result.spikes):
        click.echo(f"{len(result.spikes)} monitored output spikes (use --json to list them)")
    for time_index, t in enumerate(result.monitor.times):
        states = ", ".join(f"{n}: {v}" for n, v in zip(result.monitor.neurons, result.probed[time_index]))
        click.echo(f"state at {t} µs: {states}")
