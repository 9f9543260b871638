"""Quantization: intake of float models, post-training quantization, quantization-aware training.

`quantize(model, target, calibration=None)` -> `QuantizedModel` (the integer network, time-stepped
exactly as the chip computes); `QuantizationAware(model, target, input_shape)` for QAT.
"""

import sys
import types

from snndeploy.quantize.graph import LayerGraph, build_graph, check_graph
from snndeploy.quantize.model import QuantizedLayer, QuantizedModel
from snndeploy.quantize.qat import QuantizationAware
from snndeploy.quantize.quantizer import LayerReport, QuantizationReport, quantize, run_float_model

__all__ = [
    "LayerGraph", "LayerReport", "QuantizationAware", "QuantizationReport", "QuantizedLayer", "QuantizedModel",
    "build_graph", "check_graph", "quantize", "run_float_model",
]


class _CallableModule(types.ModuleType):
    """`snndeploy.quantize` is this package and its main function at once: calling the package
    calls `quantize`, so `snndeploy.quantize(model, target)` works however it was imported."""

    def __call__(self, *args, **kwargs):
        return quantize(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
