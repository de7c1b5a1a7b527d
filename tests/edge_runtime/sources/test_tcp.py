from __future__ import annotations

import socket
import threading

import pytest

from edge_runtime.errors import SourceError
from edge_runtime.sources import open_source


def test_tcp_reads_until_the_peer_closes():
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]

    def serve() -> None:
        conn, _ = srv.accept()
        conn.sendall(b"frames\x00")
        conn.close()

    t = threading.Thread(target=serve)
    t.start()
    src = open_source(f"tcp://127.0.0.1:{port}")
    src.open()
    got = b""
    with pytest.raises(SourceError, match="closed by the peer"):
        for _ in range(50):
            got += src.read(0.2)
    assert got == b"frames\x00"
    src.close()
    t.join()
    srv.close()


def test_tcp_refused_and_bad_url():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(SourceError, match="cannot connect"):
        open_source(f"tcp://127.0.0.1:{port}").open()
    with pytest.raises(SourceError, match="host:port"):
        open_source("tcp://nohost")
