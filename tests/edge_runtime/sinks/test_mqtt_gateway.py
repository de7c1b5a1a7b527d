"""A ``{stream}`` MQTT sink URL in the gateway: one topic per stream on a real mosquitto broker."""

from __future__ import annotations

import json
import threading

import pytest

mqtt = pytest.importorskip("paho.mqtt.client")

from ..test_gateway import SECRET, connect, device, gw_config, serve, wait_for  # noqa: E402, F401
from .conftest import Broker  # noqa: E402


def test_stream_template_gives_one_topic_per_stream(broker: Broker, serve):  # noqa: F811
    got: dict[str, list[dict]] = {}
    lock, subscribed = threading.Lock(), threading.Event()

    def on_message(c, u, msg) -> None:  # type: ignore[no-untyped-def]
        with lock:
            got.setdefault(msg.topic, []).append(json.loads(msg.payload))

    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="gw-sub")
    sub.on_connect = lambda c, u, f, rc, p: c.subscribe("ward/+/windows", qos=1)
    sub.on_subscribe = lambda c, u, mid, rcs, p: subscribed.set()
    sub.on_message = on_message
    sub.connect_async("127.0.0.1", broker.port)
    sub.loop_start()
    try:
        assert subscribed.wait(10)
        cfg = gw_config([{"name": "ward", "url": "tcp-listen://127.0.0.1:0?max=10"}])
        gw, port, _ = serve(cfg, [f"mqtt://127.0.0.1:{broker.port}/ward/{{stream}}/windows?qos=1"])
        for i in range(3):
            connect(port).sendall(device(i, n=128 * 2)[0])
        assert wait_for(lambda: sum(len(v) for v in got.values()) >= 9, 10)
    finally:
        sub.loop_stop()
        sub.disconnect()
    assert len(got) == 3
    for topic, recs in got.items():
        stream = topic.split("/")[1]
        assert stream.startswith("ward-") and {r["stream"] for r in recs} == {stream}
        assert sorted(r["window_id"] for r in recs) == [0, 1, 2]
    assert gw.metrics.snapshot()["sinks"][f"mqtt://127.0.0.1:{broker.port}/ward/{{stream}}/windows"]["sinks"] == 3
