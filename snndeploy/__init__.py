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

# public name -> "module:attribute"
_PUBLIC = {
    # layers and conversion
    "IAF": "snndeploy.layers:IAF",
    "LIF": "snndeploy.layers:LIF",
    "ExpLeak": "snndeploy.layers:ExpLeak",
    "IAFSqueeze": "snndeploy.layers:IAFSqueeze",
    "LIFSqueeze": "snndeploy.layers:LIFSqueeze",
    "ExpLeakSqueeze": "snndeploy.layers:ExpLeakSqueeze",
    "from_sinabs": "snndeploy.layers.convert:from_sinabs",
    "to_sinabs": "snndeploy.layers.convert:to_sinabs",
}

__all__ = ["SnnDeployError", "__version__", *_PUBLIC]


def __getattr__(name: str):
    try:
        module_name, attribute = _PUBLIC[name].split(":")
    except KeyError:
        raise AttributeError(f"module 'snndeploy' has no attribute '{name}'") from None
    value = getattr(importlib.import_module(module_name), attribute)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
