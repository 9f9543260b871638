"""snndeploy: train spiking neural networks and deploy them to neuromorphic chips.

The public API. Each name loads its stage on first use, so `import snndeploy` stays quick and the
CLI starts fast.

    train (layers, fit)  ->  quantize  ->  map_to_chip  ->  ChipConfig  ->  simulate / verify
    ->  export (NIR, ONNX)  ->  devices
"""

from __future__ import annotations

import importlib

from snndeploy._version import __version__
from snndeploy.errors import SnnDeployError

# public name -> "module:attribute" (or "module" for the module itself)
_PUBLIC = {
    # layers and conversion
    "IAF": "snndeploy.layers:IAF",
    "LIF": "snndeploy.layers:LIF",
    "ExpLeak": "snndeploy.layers:ExpLeak",
    "IAFSqueeze": "snndeploy.layers:IAFSqueeze",
    "LIFSqueeze": "snndeploy.layers:LIFSqueeze",
    "ExpLeakSqueeze": "snndeploy.layers:ExpLeakSqueeze",
    "from_sinabs": "snndeploy.layers.convert:from_sinabs",
    "event_to_iaf": "snndeploy.layers:event_to_iaf",
    "to_sinabs": "snndeploy.layers.convert:to_sinabs",
    # training
    "fit": "snndeploy.train:fit",
    "evaluate": "snndeploy.train:evaluate",
    "build_model": "snndeploy.train:build_model",
    "load_model": "snndeploy.train:load_model",
    "get_dataset": "snndeploy.data:get_dataset",
    # deployment
    "load_target": "snndeploy.targets:load_target",
    "quantize": "snndeploy.quantize",  # the package, callable as its `quantize` function
    "QuantizedModel": "snndeploy.quantize:QuantizedModel",
    "QuantizationAware": "snndeploy.quantize:QuantizationAware",
    "map_to_chip": "snndeploy.mapping:map_to_chip",
    "ChipConfig": "snndeploy.mapping:ChipConfig",
    "simulate": "snndeploy.sim:simulate",
    "SimResult": "snndeploy.sim:SimResult",
    "load_events": "snndeploy.sim:load_events",
    "save_events": "snndeploy.sim:save_events",
    "verify": "snndeploy.sim.verify:verify",
    "run_demo": "snndeploy.demo:run_demo",
    # interop and devices
    "export_nir": "snndeploy.export.nir:export_nir",
    "import_nir": "snndeploy.export.nir:import_nir",
    "export_onnx": "snndeploy.export.onnx:export_onnx",
    "load_network": "snndeploy.export:load_network",
    "open_device": "snndeploy.devices:open_device",
    "list_devices": "snndeploy.devices:list_devices",
}

__all__ = ["SnnDeployError", "__version__", *_PUBLIC]


def __getattr__(name: str):
    try:
        module_name, _, attribute = _PUBLIC[name].partition(":")
    except KeyError:
        raise AttributeError(f"module 'snndeploy' has no attribute '{name}'") from None
    module = importlib.import_module(module_name)
    value = getattr(module, attribute) if attribute else module
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
