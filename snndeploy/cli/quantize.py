"""`snndeploy quantize`: a trained checkpoint -> integer QuantizedModel (.safetensors) + report."""

from __future__ import annotations

import json
from typing import Optional

import click

from snndeploy.quantize.files import load_calibration, load_float_model
from snndeploy.quantize.quantizer import quantize


def parse_shape(value: Optional[str]) -> Optional[tuple]:
    if value is None:
        return None
    try:
        return tuple(int(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not comma-separated integers such as 2,34,34") from None


@click.command("quantize")
@click.argument("model", metavar="CKPT")
@click.option("--target", "-t", default="speck2f", show_default=True, help="Target name or .toml file.")
@click.option("--calibration", default=None, help="Dataset name or .npy frames (batch, time, c, h, w).")
@click.option("--calibration-samples", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--dt-us", type=click.IntRange(min=1), default=None, help="Time-bin width of the calibration dataset.")
@click.option("--input-shape", default=None, help="C,H,W for models from a Python file (else from the architecture).")
@click.option("--strict", is_flag=True, help="Refuse approximations (MaxPool as sum pooling, LIF as IAF with leak).")
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False), help="Output .safetensors file.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def command(model: str, target: str, calibration: Optional[str], calibration_samples: int, dt_us: Optional[int],
            input_shape: Optional[str], strict: bool, out: str, as_json: bool) -> None:
    """Quantize CKPT (a `snndeploy train` checkpoint file or folder, or a .nir file) for a chip target.

    \b
    Example:
      snndeploy quantize runs/digits --target speck2f --calibration digits -o q.safetensors
    """
    float_model, shape = load_float_model(model, parse_shape(input_shape))
    frames = None if calibration is None else load_calibration(calibration, calibration_samples, dt_us)
    qmodel = quantize(float_model, target, frames, input_shape=shape, strict=strict)
    path = qmodel.save(out)
    if as_json:
        click.echo(json.dumps({"output": str(path), "report": qmodel.report.to_dict()}))
        return
    click.echo(qmodel.report.table())
    click.echo(f"wrote {path}")
