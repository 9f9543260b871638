"""`snndeploy train`: train a spiking network on an event dataset."""

from __future__ import annotations

import json

import click
from click.core import ParameterSource

from snndeploy.eventprop import LOSSES as EVENTPROP_LOSSES
from snndeploy.layers import BACKENDS
from snndeploy.train.architecture import NEURONS, SPIKE_FUNCTIONS
from snndeploy.train.losses import LOSSES
from snndeploy.train.run import EVENTPROP, FP, fp_preset_options, run_training

POSITIVE = click.FloatRange(min=0, min_open=True)


@click.command("train")
@click.argument("source", metavar="ARCH_OR_PY")
@click.option("--data", default="digits", show_default=True,
              help="Dataset name (see snndeploy.data.list_datasets()).")
@click.option("--data-root", type=click.Path(file_okay=False), default=None,
              help="Folder holding a downloaded dataset (tonic datasets).")
@click.option("--dt-us", type=click.IntRange(min=1), default=None,
              help="Time-bin width of the frames in microseconds (dataset default if unset).")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Use only the first N samples of each split (quick runs).")
@click.option("--neuron", type=click.Choice(sorted(NEURONS)), default="iaf", show_default=True)
@click.option("--backend", "--trainer", "backend",
              type=click.Choice(sorted(BACKENDS) + [EVENTPROP, FP]), default="exodus",
              show_default=True,
              help="Training backend of the neuron layers; eventprop trains a dense EventProp "
                   "network (current-based LIF, exact gradients) instead, fp a dense network "
                   "with exact forward-propagated gradients of spike times (paper 001). "
                   "--backend and --trainer are the same option.")
@click.option("--loss", type=click.Choice(list(LOSSES) + list(EVENTPROP_LOSSES)), default=None,
              help="sum-ce (default): CE of spike counts; max-ce: CE of max over time; "
                   "count-mse. With --backend eventprop: sum, sum_exp (default), max, "
                   "per_step_ce (readout voltage) or first_spike (spiking output). --trainer fp "
                   "has its own first-spike-time loss (--fp-tau0 ...).")
@click.option("--epochs", type=click.IntRange(min=1), default=3, show_default=True,
              help="Total epochs (a resumed run continues up to this number; --trainer fp on "
                   "xor / iris / yinyang: the preset's).")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True,
              help="Global batch: under torchrun each of N processes takes batch-size / N "
                   "(--trainer fp: the preset's; xor and iris train on the full split).")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=1e-3,
              show_default=True, help="Adam learning rate (--trainer fp: the preset's).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threshold", "spike_threshold", type=float, default=1.0, show_default=True,
              help="Spike threshold of every neuron (--trainer fp: ϑ, the preset's).")
@click.option("--tau-mem", type=float, default=None,
              help="Membrane time constant (lif; eventprop: ms, default 20).")
@click.option("--tau-syn", type=POSITIVE, default=None,
              help="Synaptic time constant in ms (eventprop only; default 5).")
@click.option("--step-ms", type=POSITIVE, default=None,
              help="EventProp step dt in ms (default 1): a raster's bin width; spike-time data "
                   "is in ms.")
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="EventProp trial length in steps (needed for spike-time data: yinyang).")
@click.option("--hidden-weights", type=(float, click.FloatRange(min=0)), multiple=True,
              metavar="MEAN STD",
              help="EventProp / fp hidden-layer initial weights N(MEAN, STD²) (eventprop default "
                   "0, 1/√fan_in); fp: once for all hidden layers or once per hidden layer.")
@click.option("--output-weights", type=(float, click.FloatRange(min=0)), default=None,
              metavar="MEAN STD",
              help="EventProp / fp output-layer initial weights N(MEAN, STD²) (eventprop default "
                   "0, 1/√fan_in).")
@click.option("--fp-alpha", type=POSITIVE, default=None, metavar="RATE",
              help="fp: synaptic decay rate α = 1/τs.")
@click.option("--fp-beta", type=POSITIVE, default=None, metavar="RATE",
              help="fp: membrane decay rate β = 1/τm (≠ α).")
@click.option("--fp-max-spikes", type=click.IntRange(min=1), default=None, metavar="N",
              help="fp: spikes kept per hidden neuron (outputs keep their first).")
@click.option("--fp-tau0", type=POSITIVE, default=None,
              help="fp loss: temperature τ0 of the softmax over −(first spike times).")
@click.option("--fp-tau1", type=POSITIVE, default=None,
              help="fp loss: time scale τ1 of the γ (e^{t_label/τ1} − 1) term.")
@click.option("--fp-gamma", type=click.FloatRange(min=0), default=None,
              help="fp loss: weight γ of the early-label-spike term.")
@click.option("--fp-no-spike-time", type=float, default=None, metavar="TIME",
              help="fp loss: the first spike time a silent output counts as.")
@click.option("--fp-weight-bump", type=(click.FloatRange(min=0), click.FloatRange(0, 1), click.FloatRange(0, 1)),
              default=None, metavar="VALUE HIDDEN_MIN OUTPUT_MIN",
              help="fp: after each step add VALUE to the incoming weights of hidden neurons that "
                   "fired on fewer than HIDDEN_MIN of the batch's samples and of output neurons "
                   "below OUTPUT_MIN (snndeploy.fp.WeightBump); VALUE 0 turns it off.")
@click.option("--recurrent", is_flag=True, help="EventProp: recurrent weights in the hidden layers.")
@click.option("--spike-regularisation", type=(click.FloatRange(min=0), click.FloatRange(min=0)),
              default=None, metavar="STRENGTH TARGET",
              help="EventProp: hidden spike-count regularisation (k_reg, ν of Nowotny et al. "
                   "2022 eq. 13).")
@click.option("--spike-fn", type=click.Choice(sorted(SPIKE_FUNCTIONS)), default="multi",
              show_default=True, help="Spikes per time step: multi (v // threshold) or single.")
@click.option("--bias", is_flag=True, help="Give conv and dense layers a bias (default: none).")
@click.option("--qat", metavar="TARGET", default=None,
              help="Quantization-aware training for a chip target (speck2f, ...): the forward "
                   "pass runs the target's integer network.")
@click.option("--init", type=click.Path(), default=None, metavar="CKPT",
              help="Start from the weights of this float checkpoint (e.g. to fine-tune with --qat).")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda.")
@click.option("--out", type=click.Path(), default="runs/train", show_default=True,
              help="Folder for checkpoints, metrics.csv/.jsonl and learning_curve.png.")
@click.option("--resume", is_flag=True,
              help="Continue exactly from the last complete checkpoint in --out.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def command(ctx: click.Context, source: str, as_json: bool, **options) -> None:
    """Train ARCH_OR_PY (an architecture string or a .py file defining model()).

    \b
    Architecture notation: 34x34x2-8c3-2p-16c3-2p-10 (input HxWxC, NcK conv,
    Kp sum / Ka adjusted-average / Km max pooling, N dense), or 700-128-128-20.
    Every conv and dense layer is followed by a spiking neuron layer; --neuron,
    --backend, --threshold, --tau-mem, --spike-fn and --bias shape those layers
    (a model() file builds its own). --backend eventprop trains a dense EventProp
    network instead (current-based LIF, exact gradients; --tau-mem, --tau-syn,
    --threshold, --step-ms; spike-time data such as yinyang needs --steps).

    \b
    --trainer fp (same option as --backend) trains a dense network on spike-time
    data (xor, iris, yinyang) with exact gradients propagated forward through the
    event simulation (paper 001), loss: first-spike times. On those datasets every
    setting not given on the command line is the preset's (snndeploy.fp.PRESETS,
    the paper's tables; iris and yinyang depart from them as their comments say:
    --fp-alpha, --fp-beta, --threshold, --hidden-weights, --output-weights,
    --fp-max-spikes, --fp-tau0, --fp-tau1, --fp-gamma, --fp-no-spike-time,
    --fp-weight-bump, --lr, --batch-size, --epochs); the preset values taken are
    printed. The test split is reported every epoch; the validation-split epoch
    selection of yinyang is train_fp's (Python API), not this command's.

    Under torchrun it trains data-parallel (gloo on CPU, nccl with --device cuda);
    rank 0 writes the checkpoints and prints the result (docs/distributed.md).

    \b
    Examples:
      snndeploy train 34x34x2-8c3-2p-16c3-2p-10 --data digits --epochs 3 --out runs/digits
      snndeploy train 34x34x2-8c3-2p-16c3-2p-10 --qat speck2f --init runs/digits
        --epochs 1 --out runs/digits-qat
      snndeploy train 5-100-3 --data yinyang --backend eventprop --loss first_spike
        --tau-mem 2 --tau-syn 0.5 --step-ms 0.05 --steps 80 --hidden-weights 1.5 1.5
        --output-weights 0.3 0.3 --lr 5e-3 --out runs/yinyang
      snndeploy train 5-10-3 --data iris --trainer fp --out runs/iris-fp
      snndeploy train 5-150-3 --data yinyang --trainer fp --epochs 20 --out runs/yinyang-fp
      torchrun --standalone --nproc_per_node 2 "$(which snndeploy)" train
        34x34x2-8c3-2p-16c3-2p-10 --batch-size 32 --out runs/ddp
    """
    verbosity = (ctx.obj or {}).get("verbosity", 0)
    preset = _fp_preset_taken(ctx, options) if options["backend"] == FP else {}
    options.update(preset)
    if preset and not as_json and verbosity >= 0:
        click.echo(f"fp preset {options['data']} (snndeploy.fp.PRESETS): " + _as_flags(ctx, preset))
    run = run_training(source, progress=verbosity >= 0 and not as_json, **options)
    if not run.is_main:
        return
    last = run.history[-1] if run.history else {}
    result = {"checkpoint": str(run.checkpoint), "learning_curve": str(run.learning_curve),
              "epochs": len(run.history), **{k: v for k, v in last.items() if k != "epoch"}}
    if preset:
        result["fp_preset"] = preset
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(f"trained {len(run.history)} epochs: train accuracy {last['train_accuracy']:.3f}, "
               f"test accuracy {last['val_accuracy']:.3f}")
    click.echo(f"checkpoint      {run.checkpoint}")
    click.echo(f"learning curve  {run.learning_curve}")


def _fp_preset_taken(ctx: click.Context, options: dict) -> dict:
    """The run_training keywords of the dataset's FP preset that the command line did not give
    (an option left at its default, or dataset_options, which has no option)."""
    return {name: value for name, value in fp_preset_options(options["data"]).items()
            if name not in ctx.params
            or ctx.get_parameter_source(name) is ParameterSource.DEFAULT}


def _as_flags(ctx: click.Context, values: dict) -> str:
    """`--flag value` for each run_training keyword in `values` (nested pairs flattened; an
    empty dataset_options left out)."""
    flags = {param.name: param.opts[0] for param in ctx.command.params}
    shown = []
    for name, value in values.items():
        if name not in flags:
            if value:
                shown.append(f"{name}={value}")
            continue
        pairs = value if name == "hidden_weights" else [value]
        for pair in pairs:
            text = "full-split" if pair is None else (
                " ".join(map(str, pair)) if isinstance(pair, (tuple, list)) else str(pair))
            shown.append(f"{flags[name]} {text}")
    return ", ".join(shown)
