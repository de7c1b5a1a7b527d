"""The edge runtime's error tree: every failure a user can cause has a class here.

    EdgeError
    ├── SourceError          device missing, unplugged, refused, wrong stream
    │   └── StreamMismatchError   stream rate/channels/units differ from the manifest
    ├── ManifestError        bundle unreadable, tampered (sha256), unknown schema, gate not passed
    ├── ModelError           interpreter missing, model file unusable, I/O shape/dtype mismatch
    ├── ConfigError          bad TOML, unknown key, wrong type
    └── SinkError            sink URL unknown or sink cannot be opened

The CLI prints ``str(exc)`` on one line and exits non-zero; messages never contain sample values.
"""

from __future__ import annotations

__all__ = [
    "EdgeError",
    "SourceError",
    "StreamMismatchError",
    "ManifestError",
    "ModelError",
    "ConfigError",
    "SinkError",
]


class EdgeError(Exception):
    """Base class of every error the runtime raises on purpose."""


class SourceError(EdgeError):
    """A sample source cannot be opened or was lost (unplug, BLE disconnect)."""


class StreamMismatchError(SourceError):
    """The device stream does not match what the model was trained on.

    Attributes:
        field: which property differs ("rate_hz", "channels", "units").
        expected: value from the manifest.
        actual: value announced by the device.
    """

    def __init__(self, field: str, expected: object, actual: object) -> None:
        self.field, self.expected, self.actual = field, expected, actual
        super().__init__(f"stream does not match the model: {field} is {actual!r}, the manifest expects {expected!r}")


class ManifestError(EdgeError):
    """The model bundle is unreadable, tampered with, or of an unknown schema."""


class ModelError(EdgeError):
    """The interpreter or the model file cannot be used."""


class ConfigError(EdgeError):
    """The runtime configuration is invalid (unknown key, wrong type, bad value)."""


class SinkError(EdgeError):
    """A sink cannot be opened or its URL is unknown."""
