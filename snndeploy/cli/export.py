"""`snndeploy export MODEL --format nir|onnx -o OUT`: write a network in an exchange format."""

from __future__ import annotations

import json

import click

from snndeploy.errors import SnnDeployError
from snndeploy.export import FORMATS, OPSET, export_model


def _shape(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        shape = ()
    if not shape or any(v < 1 for v in shape):
        raise SnnDeployError(f"--input-shape {text!r}: expected positive integers C,H,W (or F for vectors)")
    return shape


@click.command("export")
@click.argument("model", type=click.Path(exists=True))
@click.option("--format", "fmt", type=click.Choice(sorted(FORMATS)), required=True,
              help=f"nir: NIR graph (HDF5); onnx: unrolled over --steps time steps (opset {OPSET}).")
@click.option("-o", "--out", type=click.Path(dir_okay=False), required=True, help="File to write.")
@click.option("--steps", type=click.IntRange(min=1), default=100, show_default=True,
              help="Time steps the ONNX graph is unrolled over.")
@click.option("--input-shape", default=None, metavar="C,H,W",
              help="Sample shape, when the model does not record it (model() files).")
@click.option("--dt-seconds", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Physical length of one time step, written into the NIR metadata.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def command(model, fmt, out, steps, input_shape, dt_seconds, as_json):
    """Export MODEL (run folder, checkpoint, .nir file, or quantized .safetensors) to NIR or ONNX.

    \b
    Examples:
      snndeploy export runs/digits --format nir -o digits.nir --dt-seconds 0.001
      snndeploy export runs/digits --format onnx --steps 50 -o digits.onnx
      snndeploy export digits.quantized.safetensors --format onnx --steps 50 -o digits_int.onnx
    """
    path = export_model(model, out, fmt, num_steps=steps, input_shape=_shape(input_shape), dt_seconds=dt_seconds)
    result = {"format": fmt, "file": str(path), **({"steps": steps, "opset": OPSET} if fmt == "onnx" else {})}
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(f"wrote {path} ({fmt}" + (f", {steps} steps, opset {OPSET})" if fmt == "onnx" else ")"))
