"""The public surface is pinned: every name in ``__all__`` exists (httpx ``test_exported_members``)."""

from __future__ import annotations

import importlib

import pytest

PUBLIC = {
    "edge_runtime.config": {"RuntimeConfig", "load_config", "from_dict", "with_overrides", "default_sink_url",
                            "SourceConfig", "ModelConfig", "WindowConfig", "StreamConfig", "SinkConfig",
                            "RuntimeOptions", "StreamEntry", "GatewayConfig"},
    "edge_runtime.decoder": {"StreamDecoder", "StreamInfo", "Block", "Gap", "Event", "check_stream",
                             "FLAG_INTERPOLATED", "FLAG_DRIFT", "FLAG_NAMES"},
    "edge_runtime.windower": {"Window", "Windower", "stream_windows"},
    "edge_runtime.bundleset": {"ModelSet", "load_set", "DEFAULT_VIEW", "WINDOW_FIELDS"},
    "edge_runtime.reload": {"Reloader", "bundle_stamp"},
    "edge_runtime.backoff": {"Backoff"},
    "edge_runtime.batch": {"main", "imu_windows", "csv_windows", "anonymize_file"},
    "edge_runtime.batch_inputs": {"Task", "Chunk", "find_tasks", "task_windows", "imu_windows", "csv_windows",
                                  "hapt_windows", "sisfall_windows", "ACC_UNITS", "GYRO_UNITS", "FORMATS"},
    "edge_runtime.batch_output": {"anonymize_file", "released", "parquet_schema"},
    "edge_runtime.batch_dist": {"Options", "Result", "run_task", "run_tasks", "preload", "output_path"},
    "edge_runtime.interpreter": {"Anonymizer", "load_interpreter", "BACKENDS"},
    "edge_runtime.pipeline": {"Pipeline", "Backoff", "window_spec"},
    "edge_runtime.reader": {"SourceReader", "RECONNECT", "EOF"},
    "edge_runtime.gateway": {"Gateway", "is_listener"},
    "edge_runtime.gateway_streams": {"Stream", "stream_secret", "listener_stream_name", "default_state_file"},
    "edge_runtime.gateway_sinks": {"StreamSinks", "TEMPLATE"},
    "edge_runtime.gateway_threads": {"ThreadedStream"},
    "edge_runtime.sources.tcp_listen": {"TcpListener", "SCHEME"},
    "edge_runtime.metrics": {"Metrics", "Latency", "write_json", "publish"},
    "edge_runtime.watchdog": {"Notifier", "Watchdog"},
    "edge_runtime.cli": {"main", "build_parser", "DEFAULT_BUNDLE", "ESTIMATOR_BUNDLE", "SAMPLE_TRACE", "EXIT_CODES"},
    "edge_runtime.views": {"View", "parse_view", "Views", "LABEL", "Common"},
    "edge_runtime.estimator": {"Estimator"},
    "edge_runtime.sources.serial": {"SerialSource"},
    "edge_runtime.sources.replay": {"ReplaySource"},
    "edge_runtime.sources.tcp": {"TcpSource"},
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_exported_members(name):
    mod = importlib.import_module(name)
    assert set(mod.__all__) == PUBLIC[name]
    for member in mod.__all__:
        assert hasattr(mod, member)
