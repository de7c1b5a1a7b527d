"""The runtime configuration in one typed place: defaults here, deltas in a TOML file, CLI on top.

A config file sets only what differs (see ``deploy/config.toml``)::

    [source]
    url = "serial:///dev/imu0?baud=115200"
    [sinks]
    urls = ["unix:///run/edge-anonymize/windows.sock", "mqtt://127.0.0.1/imu/windows?qos=1"]

Every key is checked: an unknown key or a value of the wrong type raises ``ConfigError`` naming
the key (``window.stride``), like nanoGPT's configurator but without ``exec``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")

__all__ = [
    "SourceConfig", "ModelConfig", "WindowConfig", "StreamConfig", "SinkConfig", "RuntimeOptions",
    "StreamEntry", "GatewayConfig", "RuntimeConfig", "load_config", "from_dict", "with_overrides", "default_sink_url",
]  # fmt: skip


@dataclass(frozen=True)
class SourceConfig:
    url: str = ""  # serial:///dev/imu0, ble://AA:BB:.., replay:///x.imu?speed=1, tcp://host:port
    read_timeout_s: float = 0.2  # one blocking read at most this long, so shutdown stays prompt
    reconnect_min_s: float = 0.5  # backoff after a loss: doubles per failure ...
    reconnect_max_s: float = 30.0  # ... capped here; resets once data flows again
    queue_chunks: int = 256  # byte chunks buffered between the reader thread and processing
    wait: bool = False  # device absent at start: keep retrying (systemd) instead of exiting (interactive)


@dataclass(frozen=True)
class ModelConfig:
    bundle: str = ""  # "" = the bundled edge_runtime/bundled/hapt-magnitude
    allow_ungated: bool = False  # run a model whose release gate did not pass (status says UNGATED)
    trusted_keys: list[str] = field(default_factory=list)  # more Ed25519 .pub files/folders to trust
    allow_unsigned: bool = False  # run a bundle whose signature is missing or wrong (status says UNSIGNED)
    num_threads: int = 1  # interpreter threads; 1 keeps latency predictable on a Pi
    watch_s: float = 0.0  # poll the bundle's files this often [s] and hot-swap on change; 0 = only on SIGHUP


@dataclass(frozen=True)
class WindowConfig:
    stride: int = 0  # samples between window starts; 0 = the manifest's stride
    # gaps of at most this many samples are interpolated and flagged: 5 = one lost frame at the firmware's
    # 5 samples/frame (100 ms). At 5 % frame loss it keeps 96 % of windows instead of 35 % (docs/edge_runtime.md)
    max_interp: int = 5


@dataclass(frozen=True)
class StreamConfig:
    name: str = "imu"  # stream id in every window; never the device id, which would identify the wearer
    device_id: str = ""  # hex device id to accept (HELLO); "" = any device
    rate_tolerance: float = 0.005  # |HELLO rate / manifest rate - 1| allowed
    clock_tolerance_us: int = 20000  # per-frame device clock error allowed before a clock jump
    max_drift_ppm: float = 20000.0  # measured rate vs announced rate over drift_window_s
    drift_window_s: float = 10.0
    reorder_window: int = 1024  # samples behind the stream that count as late, not as a device restart


@dataclass(frozen=True)
class SinkConfig:
    urls: list[str] = field(default_factory=list)  # [] = default unix socket (stdout for --demo)


@dataclass(frozen=True)
class RuntimeOptions:
    status_interval_s: float = 30.0  # one content-free status line this often; 0 = off
    metrics_file: str = ""  # JSON counters written atomically at every status interval
    drain_timeout_s: float = 5.0  # on SIGTERM: finish queued work and close sinks within this
    watchdog: bool = True  # sd_notify READY/WATCHDOG when run under systemd ($NOTIFY_SOCKET)
    log_level: str = "info"


@dataclass(frozen=True)
class StreamEntry:
    """One ``[[streams]]`` table: a named source of the multi-stream gateway (edge_runtime/gateway.py)."""

    name: str = ""  # in every record and in {stream} sink URLs; a listener's connections get name-<hmac8>
    url: str = ""  # serial:// ble:// tcp:// replay:// (one stream) or tcp-listen://host:port?max=N (many)
    device_id: str = ""  # hex device id to accept (HELLO); "" = any


@dataclass(frozen=True)
class GatewayConfig:
    max_streams: int = 2000  # streams open at once, all sources together; a connection beyond is refused
    max_batch: int = 256  # windows per interpreter call at most
    stall_timeout_s: float = 10.0  # a listener connection silent this long is closed (counted)
    hello_timeout_s: float = 5.0  # a connection without a valid HELLO this long after connecting is closed
    secret: str = ""  # HMAC key for listener stream names; "" = generated once and kept in state_file
    state_file: str = ""  # where the generated secret lives; "" = $STATE_DIRECTORY or ~/.local/state


@dataclass(frozen=True)
class RuntimeConfig:
    source: SourceConfig = field(default_factory=SourceConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    window: WindowConfig = field(default_factory=WindowConfig)
    stream: StreamConfig = field(default_factory=StreamConfig)
    sinks: SinkConfig = field(default_factory=SinkConfig)
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)
    gateway: GatewayConfig = field(default_factory=GatewayConfig)
    streams: list[StreamEntry] = field(default_factory=list)  # [[streams]]: when set, the CLI runs the gateway

    def __post_init__(self) -> None:
        _check(self)


def _check(c: RuntimeConfig) -> None:
    """Value checks the type system cannot express; messages name the key."""
    rules = [
        ("source.read_timeout_s", c.source.read_timeout_s > 0),
        ("source.reconnect_min_s", c.source.reconnect_min_s > 0),
        ("source.reconnect_max_s", c.source.reconnect_max_s >= c.source.reconnect_min_s),
        ("source.queue_chunks", c.source.queue_chunks >= 1),
        ("model.num_threads", c.model.num_threads >= 1),
        ("model.watch_s", c.model.watch_s >= 0),
        ("window.stride", c.window.stride >= 0),
        ("window.max_interp", c.window.max_interp >= 0),
        ("stream.rate_tolerance", 0 <= c.stream.rate_tolerance < 1),
        ("stream.clock_tolerance_us", c.stream.clock_tolerance_us > 0),
        ("stream.max_drift_ppm", c.stream.max_drift_ppm > 0),
        ("stream.drift_window_s", c.stream.drift_window_s > 0),
        ("stream.reorder_window", c.stream.reorder_window >= 0),
        ("runtime.status_interval_s", c.runtime.status_interval_s >= 0),
        ("runtime.drain_timeout_s", c.runtime.drain_timeout_s > 0),
        ("runtime.log_level", c.runtime.log_level.lower() in ("debug", "info", "warning", "error")),
        ("gateway.max_streams", c.gateway.max_streams >= 1),
        ("gateway.max_batch", c.gateway.max_batch >= 1),
        ("gateway.stall_timeout_s", c.gateway.stall_timeout_s > 0),
        ("gateway.hello_timeout_s", c.gateway.hello_timeout_s > 0),
    ]
    for key, ok in rules:
        if not ok:
            raise ConfigError(f"config value {key} is out of range")
    if c.stream.device_id:
        try:
            int(c.stream.device_id, 16)
        except ValueError:
            raise ConfigError("config value stream.device_id must be hexadecimal") from None
    _check_streams(c.streams)


def _check_streams(streams: list[StreamEntry]) -> None:
    """Names are unique and safe inside a topic, path or URL ({stream} templates); every entry has a URL."""
    seen: set[str] = set()
    for i, s in enumerate(streams):
        if not _NAME.fullmatch(s.name):
            raise ConfigError(f"config value streams[{i}].name must be 1..64 of A-Z a-z 0-9 _ . - (got {s.name!r})")
        if s.name in seen:
            raise ConfigError(f"config value streams[{i}].name {s.name!r} is used twice")
        if not s.url:
            raise ConfigError(f"config value streams[{i}].url is missing")
        if s.device_id:
            try:
                int(s.device_id, 16)
            except ValueError:
                raise ConfigError(f"config value streams[{i}].device_id must be hexadecimal") from None
        seen.add(s.name)


def _type_ok(value: Any, tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if origin is list:
        (item,) = typing.get_args(tp)
        return isinstance(value, list) and all(_type_ok(v, item) for v in value)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, t) for t in typing.get_args(tp))
    if tp is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, tp)


def _table_list_item(tp: Any) -> Any:
    """The dataclass of a ``list[Dataclass]`` field (a TOML array of tables), else None."""
    if typing.get_origin(tp) is list:
        (item,) = typing.get_args(tp)
        if dataclasses.is_dataclass(item):
            return item
    return None


def _section(cls: type[Any], d: dict[str, Any], prefix: str, base: Any) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    changes: dict[str, Any] = {}
    for key, value in d.items():
        if key not in names:
            raise ConfigError(f"unknown config key {prefix}{key} (known: {', '.join(sorted(names))})")
        tp = hints[key]
        item = _table_list_item(tp)
        if item is not None:
            if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                raise ConfigError(f"config key {prefix}{key} must be an array of tables ([[{prefix}{key}]])")
            changes[key] = [_section(item, v, f"{prefix}{key}[{i}].", item()) for i, v in enumerate(value)]
        elif dataclasses.is_dataclass(tp):
            if not isinstance(value, dict):
                raise ConfigError(f"config key {prefix}{key} must be a table")
            changes[key] = _section(tp, value, f"{prefix}{key}.", getattr(base, key))  # type: ignore[arg-type]
        elif not _type_ok(value, tp):
            raise ConfigError(
                f"config key {prefix}{key} must be {getattr(tp, '__name__', tp)}, got {type(value).__name__}"
            )
        else:
            changes[key] = float(value) if tp is float else value
    try:
        return dataclasses.replace(base, **changes)
    except TypeError as exc:
        raise ConfigError(f"config section {prefix or 'top level'} is invalid: {exc}") from exc


def from_dict(d: dict[str, Any], base: RuntimeConfig | None = None) -> RuntimeConfig:
    """Apply a nested dict (parsed TOML) onto ``base`` (defaults); unknown keys raise."""
    return typing.cast(RuntimeConfig, _section(RuntimeConfig, d, "", base or RuntimeConfig()))


def load_config(path: str | os.PathLike[str] | None, base: RuntimeConfig | None = None) -> RuntimeConfig:
    """Defaults, then the TOML file at ``path`` if given.

    Raises:
        ConfigError: unreadable file, bad TOML, unknown key, wrong type or value.
    """
    if path is None:
        return base or RuntimeConfig()
    try:
        with open(path, "rb") as f:
            d = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:  # TOML is UTF-8; a binary or Latin-1 file is not a config
        raise ConfigError(f"config file {path} is not UTF-8 text (byte {exc.start}): not a TOML file?") from None
    return from_dict(d, base)


def with_overrides(cfg: RuntimeConfig, overrides: dict[str, Any]) -> RuntimeConfig:
    """Dotted-key overrides from the CLI, e.g. ``{"window.stride": 32}``; ``None`` values are skipped."""
    nested: dict[str, Any] = {}
    for dotted, value in overrides.items():
        if value is None:
            continue
        section, _, key = dotted.partition(".")
        nested.setdefault(section, {})[key] = value
    return from_dict(nested, cfg)


def default_sink_url() -> str:
    """The Unix socket apps read by default: under $XDG_RUNTIME_DIR, else /run/edge-anonymize."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    folder = Path(base) / "edge-anonymize" if base else Path("/run/edge-anonymize")
    return f"unix://{folder / 'windows.sock'}"
