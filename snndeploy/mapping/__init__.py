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
from snndeploy.mapping.mapper import ResourceReport, map_to_chip, resource_report

__all__ = [
    "FORMAT_VERSION", "ChipConfig", "CoreConfig", "Destination", "DvsConfig", "InputConfig", "ReadoutConfig",
    "ResourceReport", "map_to_chip", "resource_report",
]
