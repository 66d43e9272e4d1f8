"""A real `reclake serve` on a copy of the golden lakehouse holds its bounds over loopback: 2,000 requests over 8
connections (bench/bench_http.py), big and endless headers, idle keep-alive, hostile ids. The app's bounds in process:
tests/integration/reliability/test_http_limits.py."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.parse

from tests.e2e.servers import free_port, server
from tests.helpers import HOSTILE_IDS, REPO


def raw_request(port: int, request: bytes, wait: float = 10.0) -> bytes:
    """Send raw bytes on a new connection; return all the server sends until it closes (or ``wait`` passes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(request)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            pass
        return received


def test_a_real_server_holds_8_connections_of_load_and_its_bounds(golden_copy, tmp_path):
    port = free_port()
    command = [sys.executable, "-m", "reclake.cli", "serve", "--lakehouse", str(golden_copy), "--port", str(port)]
    with server(command, f"http://127.0.0.1:{port}/recommendations/u0000001", tmp_path / "serve.log", cwd=REPO):
        bench = [sys.executable, str(REPO / "bench" / "bench_http.py"), "--url", f"http://127.0.0.1:{port}"]
        ids = tmp_path / "ids.txt"
        ids.write_text("\n".join(f"u{n:07d}" for n in range(400)))  # the golden run's users
        done = subprocess.run(
            [*bench, "--ids", str(ids), "--requests", "2000", "--connections", "8", "--seconds", "30", "--json"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"\nHTTP load: {figures}")
        assert figures["errors"] == 0, figures["error_examples"]
        assert figures["requests"] == 2000 and figures["seconds"] <= 31, figures

        # Headers over 16 KiB: refused, whether they arrive at once (the app: 431) or trickle in (uvicorn: 400).
        big = b"GET /recommendations/u0000001 HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * 20_000 + b"\r\n\r\n"
        assert raw_request(port, big).startswith(b"HTTP/1.1 431 ")
        endless = b"GET /recommendations/u0000001 HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: p\r\n" * 10_000  # no end
        assert raw_request(port, endless).split(b"\r\n", 1)[0] in (b"HTTP/1.1 400 Bad Request", b"")
        # An idle keep-alive connection is closed by the server after its timeout (5 s), not held forever.
        t0 = time.monotonic()
        answer = raw_request(port, b"GET /recommendations/u0000001 HTTP/1.1\r\nHost: x\r\n\r\n", wait=20)
        assert answer.startswith(b"HTTP/1.1 200") and 4 < time.monotonic() - t0 < 15
        # Hostile ids over a real connection: 400 with the short error.
        for hostile in HOSTILE_IDS.values():
            path = "/recommendations/" + urllib.parse.quote(hostile, safe="")
            answer = raw_request(port, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            assert answer.startswith(b"HTTP/1.1 400") and answer.endswith(b'{"detail":"invalid user_id"}'), answer[:300]
