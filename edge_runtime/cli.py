"""``edge-anonymize``: open the model set, the source(s) and the sinks, run until a signal, exit with a code.

The options and the usage text are in ``cli_args``. Exit codes: 0 ok (also after SIGTERM/SIGINT),
2 usage/config, 3 bundle/model, 4 source, 5 stream does not match the model, 6 sink. Errors are one
line; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import traceback
from pathlib import Path
from types import FrameType
from typing import Any

from .cli_args import DEFAULT_BUNDLE, ESTIMATOR_BUNDLE, SAMPLE_TRACE, Args, build_parser
from .config import RuntimeConfig, default_sink_url, load_config, with_overrides
from .errors import ConfigError, EdgeError, ManifestError, ModelError, SinkError, SourceError, StreamMismatchError
from .native_log import native_info_filtered

__all__ = ["main", "build_parser", "DEFAULT_BUNDLE", "ESTIMATOR_BUNDLE", "SAMPLE_TRACE", "EXIT_CODES"]

EXIT_CODES: dict[type[EdgeError], int] = {
    StreamMismatchError: 5, ConfigError: 2, ManifestError: 3, ModelError: 3, SourceError: 4, SinkError: 6,
}  # fmt: skip
log = logging.getLogger("edge_anonymize")


def _source_url(a: Args, cfg: RuntimeConfig) -> str:
    if a.port:
        return a.port
    if a.ble:
        return f"ble://{a.ble}"
    if a.tcp:
        return a.tcp if "://" in a.tcp else f"tcp://{a.tcp}"
    if a.source:
        return a.source
    if cfg.source.url:
        return cfg.source.url
    raise ConfigError("no source: give --port DEV, --ble ADDR, --replay FILE, --tcp HOST:PORT or --demo")


def _build_source(a: Args, cfg: RuntimeConfig) -> Any:
    from .sources import open_source
    from .sources.replay import ReplaySource

    if a.demo:
        speed = 0.0 if a.speed is None else a.speed
        if SAMPLE_TRACE.is_file():
            return ReplaySource(SAMPLE_TRACE, speed=speed)
        from firmware_bridge.emulator import Emulator
        from firmware_bridge.recording import synthetic

        log.info("no bundled sample trace; using a synthetic 60 s walk")
        return ReplaySource(data=Emulator(synthetic(60.0, seed=0)).wire_bytes(), speed=speed)
    if a.replay:
        return ReplaySource(a.replay, speed=1.0 if a.speed is None else a.speed)
    return open_source(_source_url(a, cfg))


def _open_sinks(urls: list[str]) -> list[Any]:
    from .sinks import open_sink

    sinks: list[Any] = []
    try:
        for url in urls:
            sinks.append(open_sink(url))
    except BaseException:
        for s in sinks:
            s.close(timeout=1.0)
        raise
    return sinks


def _check_start(cfg: RuntimeConfig, window_length: int) -> None:
    """What would otherwise fail only at the first status or at exit: stride range, metrics folder."""
    if cfg.window.stride > window_length:
        raise ConfigError(f"window.stride {cfg.window.stride} is longer than the model's window "
                          f"({window_length} samples): use 1..{window_length} (0 = the manifest's)")  # fmt: skip
    if cfg.runtime.metrics_file:
        folder = Path(cfg.runtime.metrics_file).parent
        if not folder.is_dir():
            raise ConfigError(f"metrics file folder {folder} does not exist")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise ConfigError(f"metrics file folder {folder} is not writable")


def _load_model(bundle: Path, cfg: Any, *, quiet: bool) -> tuple[Any, Any]:
    """Verify ``bundle`` (checksums, signature, gate, versions) and load its model: at start and on reload."""
    from .interpreter import Anonymizer
    from .manifest import load
    from .signing import trusted_keys

    manifest = load(bundle, allow_ungated=cfg.model.allow_ungated, keys=trusted_keys(cfg.model.trusted_keys),
                    allow_unsigned=cfg.model.allow_unsigned)  # fmt: skip
    if manifest.unverified:
        log.warning("UNSIGNED: %s; running anyway (--allow-unsigned)", manifest.unverified)
    if not manifest.gate_passed:
        log.warning("UNGATED: model %s did not pass its release gate (--allow-ungated)", manifest.model_version)
    with native_info_filtered(quiet):
        if manifest.is_estimator:  # a set's activity estimator (views.py), never a releasing model
            from .estimator import Estimator

            return manifest, Estimator(manifest, num_threads=cfg.model.num_threads)
        anonymizer = Anonymizer(manifest, num_threads=cfg.model.num_threads)
    return manifest, anonymizer


def run(a: Args) -> int:
    from .metrics import Metrics
    from .pipeline import Pipeline
    from .watchdog import Notifier, Watchdog

    cfg = load_config(a.config)
    cfg = with_overrides(cfg, {
        "window.stride": a.stride, "runtime.status_interval_s": a.status_interval,
        "runtime.metrics_file": a.metrics_file, "model.bundle": a.bundle,
        "model.allow_ungated": True if a.allow_ungated else None, "source.wait": True if a.wait else None,
        "model.trusted_keys": a.trusted_key, "model.allow_unsigned": True if a.allow_unsigned else None,
        "sinks.urls": a.sink, "model.watch_s": a.watch_bundle,
    })  # fmt: skip
    if not a.debug:
        logging.getLogger().setLevel(cfg.runtime.log_level.upper())
    bundle = Path(cfg.model.bundle) if cfg.model.bundle else DEFAULT_BUNDLE
    from .bundleset import load_set

    def load_models(folder: Path) -> Any:
        return load_set(folder, lambda b: _load_model(b, cfg, quiet=not a.debug))

    models = load_models(bundle)
    manifest, anonymizer = models.primary
    _check_start(cfg, manifest.window.length)
    urls = cfg.sinks.urls or (["stdout://"] if a.demo else [default_sink_url()])
    metrics = Metrics(ungated=models.ungated)
    notifier = Notifier() if cfg.runtime.watchdog else Notifier({})
    source = None
    if cfg.streams and not (a.port or a.ble or a.replay or a.tcp or a.source or a.demo):  # [[streams]]: gateway.py
        from .gateway import Gateway

        pipe: Any = Gateway(cfg, models, urls, metrics=metrics, watchdog=Watchdog(notifier))
        what = f"{len(cfg.streams)} stream source(s) ({', '.join(s.name for s in cfg.streams)})"
    else:
        source = _build_source(a, cfg)
        sinks = _open_sinks(urls)
        try:
            pipe = Pipeline(source, manifest, anonymizer, sinks, cfg, models=models, metrics=metrics,
                            watchdog=Watchdog(notifier))  # fmt: skip
        except EdgeError:  # a sink's ?view= that the set does not have
            for sink in sinks:
                sink.close(timeout=1.0)
            raise
        what = f"source {source.url}"

    signalled: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: draining", signum)
        signalled.append(signum)
        pipe.stop()

    from .reload import Reloader

    reloader = Reloader(bundle, load_models, pipe, watch_s=cfg.model.watch_s)
    pipe.metrics.section("reload", lambda: {"reloads": reloader.reloads, "refused": reloader.refused})
    old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    old[signal.SIGHUP] = signal.signal(signal.SIGHUP, lambda signum, frame: reloader.request())
    views = "" if len(models.members) == 1 else f" (set of {len(models.members)}: {', '.join(sorted(models.members))})"
    log.info("model %s (%s)%s, window %d@%g Hz stride %d, %s, %d sink URL(s)", manifest.model_version,
             anonymizer.backend, views, pipe.spec.length, pipe.spec.rate_hz, pipe.spec.stride, what, len(urls))  # fmt: skip
    try:
        pipe.run()
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        reloader.close()
        notifier.close()
    if source is not None and source.url.startswith("replay://") and metrics.counters["windows"] == 0 and not signalled:
        log.warning("the recording ended without one window (%d frame(s) decoded; a window needs %d samples)",
                    pipe.decoder.stats().get("frames", 0), pipe.spec.length)  # fmt: skip
    return 0


def list_ports(argv: list[str]) -> int:
    argparse.ArgumentParser(prog="edge-anonymize list-ports",
                            description="List serial ports: device, description, USB ids.").parse_args(argv)  # fmt: skip
    try:
        from serial.tools import list_ports as lp
    except ImportError:
        print("edge-anonymize: list-ports needs pyserial: pip install 'edge-anonymize[edge]'", file=sys.stderr)
        return 4
    ports = sorted(lp.comports(), key=lambda p: p.device)
    for port in ports:
        print(f"{port.device}\t{port.description}\t{port.hwid}")
    if not ports:
        print("no serial ports found", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["list-ports"]:
        return list_ports(argv[1:])
    if argv[:1] == ["batch"]:
        from .batch import main as batch

        return batch(argv[1:])
    a = build_parser().parse_args(argv, namespace=Args())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("edge-anonymize: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if a.debug else logging.INFO)
    try:
        return run(a)
    except EdgeError as exc:
        if a.debug:
            traceback.print_exc()
        code = next((c for cls, c in EXIT_CODES.items() if isinstance(exc, cls)), 1)
        print(f"edge-anonymize: error: {exc}", file=sys.stderr)
        return code
    except KeyboardInterrupt:
        return 0
    finally:
        root.removeHandler(handler)


if __name__ == "__main__":
    sys.exit(main())
