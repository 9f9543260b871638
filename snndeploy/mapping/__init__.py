"""Mapping: from a QuantizedModel to cores, and the ChipConfig file format."""

from snndeploy.mapping.config import (
    FORMAT_VERSION,
    ChipConfig,
    CoreConfig,
    Destination,
    DvsConfig,
    InputConfig,
    ReadoutConfig,
)

__all__ = ["FORMAT_VERSION", "ChipConfig", "CoreConfig", "Destination", "DvsConfig", "InputConfig", "ReadoutConfig"]
