"""Where datasets live on disk, and atomic writes of generated arrays.

cache_dir(): generated data (the digits' events). $SNNDEPLOY_CACHE_DIR, else
$XDG_CACHE_HOME/snndeploy, else ~/.cache/snndeploy.
data_dir(): datasets the user downloads (tonic's N-MNIST, DVS Gesture, SHD). $SNNDEPLOY_DATA_DIR,
else $XDG_DATA_HOME/snndeploy, else ~/.local/share/snndeploy.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from snndeploy.files import write_atomically


def _user_dir(override: str, xdg: str, fallback: str) -> Path:
    if os.environ.get(override):
        return Path(os.environ[override]).expanduser()
    if os.environ.get(xdg):
        return Path(os.environ[xdg]).expanduser() / "snndeploy"
    return Path.home() / fallback / "snndeploy"


def cache_dir() -> Path:
    """Directory of generated, re-creatable data (see module docstring)."""
    return _user_dir("SNNDEPLOY_CACHE_DIR", "XDG_CACHE_HOME", ".cache")


def data_dir() -> Path:
    """Directory under which downloaded datasets are looked for (see module docstring)."""
    return _user_dir("SNNDEPLOY_DATA_DIR", "XDG_DATA_HOME", ".local/share")


def atomic_save_npz(path: Path, **arrays: np.ndarray) -> None:
    """Write arrays to an uncompressed .npz at `path` via a temp file and os.replace.

    Uncompressed because zlib takes longer than regenerating the digits' events.
    """
    def write(temp: Path) -> None:
        with open(temp, "wb") as stream:  # a stream: np.savez would append ".npz" to a name
            np.savez(stream, **arrays)

    write_atomically(path, write)
