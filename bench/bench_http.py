"""HTTP load on a real `reclake serve` process: N requests over C concurrent keep-alive connections on loopback.

Each of ``--connections`` client threads holds one TCP connection (http.client,
keep-alive) and sends ``GET /recommendations/{user_id}`` for random users of the
published table until ``--requests`` have been sent in all or ``--seconds`` have
passed. An error is anything but a 200 with the asked user's JSON: a status, a
reset connection, a timeout. Prints requests, errors, requests/s, p50 and p99.

With ``--lakehouse`` the script starts ``reclake serve`` itself (its own process
group, stopped at the end) and takes the user ids from the lakehouse's
``recommendations`` table (delta-rs, no Spark); with ``--url`` it loads a server
already running (then ``--ids`` names a file of user ids, one per line).

    /work/main/.venv/bin/python bench/bench_http.py --lakehouse lakehouse
    /work/main/.venv/bin/python bench/bench_http.py --url http://127.0.0.1:8000 --ids users.txt --json
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def served(lakehouse: str, log: Path, processes: list[subprocess.Popen] | None = None) -> Iterator[str]:
    """`reclake serve` on a free loopback port until the block ends; yields its base URL once it answers.

    ``processes``, when given, gets the server's process (to read its CPU time).
    """
    port = free_port()
    command = [sys.executable, "-m", "reclake.cli", "serve", "--lakehouse", lakehouse, "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    if processes is not None:
        processes.append(process)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise SystemExit(f"reclake serve exited with {process.returncode}:\n{log.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"reclake serve did not listen within 60 s:\n{log.read_text()[-2000:]}") from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def published_users(lakehouse: str, limit: int, seed: int) -> list[str]:
    """Up to ``limit`` user ids of the published recommendations (read with delta-rs)."""
    from deltalake import DeltaTable

    ids = sorted(set(DeltaTable(str(Path(lakehouse) / "recommendations")).to_pyarrow_table(columns=["user_id"])
                     .column("user_id").to_pylist()))  # fmt: skip
    return random.Random(seed).sample(ids, min(limit, len(ids)))


# (random draws, user id) -> (method, path, body): what one request sends.
Request = Callable[[random.Random, str], tuple[str, str, bytes | None]]


def lookup_request(rng: random.Random, user: str) -> tuple[str, str, bytes | None]:
    return "GET", "/recommendations/" + urllib.parse.quote(user, safe=""), None


def load(
    url: str,
    users: list[str],
    requests: int,
    connections: int,
    seconds: float,
    seed: int,
    make_request: Request = lookup_request,
) -> dict:
    """Send the requests (``make_request`` builds each); return the figures (latencies in ms)."""
    parts = urllib.parse.urlsplit(url)
    lock, sent = threading.Lock(), [0]
    latencies: list[float] = []
    errors: list[str] = []
    deadline = time.monotonic() + seconds

    def take() -> bool:
        with lock:
            if sent[0] >= requests or time.monotonic() > deadline:
                return False
            sent[0] += 1
            return True

    def worker(n: int) -> None:
        rng = random.Random(seed + n)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        mine: list[float] = []
        try:
            while take():
                user = rng.choice(users)
                method, path, body = make_request(rng, user)
                headers = {"Content-Type": "application/json"} if body is not None else {}
                t0 = time.perf_counter()
                try:
                    conn.request(method, path, body=body, headers=headers)
                    response = conn.getresponse()
                    answer = response.read()
                    ok = response.status == 200 and json.loads(answer)["user_id"] == user
                    problem = "" if ok else f"status {response.status}"
                except (OSError, http.client.HTTPException, ValueError) as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                    conn.close()  # reconnect on the next request
                mine.append((time.perf_counter() - t0) * 1000)
                if problem:
                    with lock:
                        errors.append(problem)
        finally:
            conn.close()
            with lock:
                latencies.extend(mine)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)

    def pct(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2) if ordered else float("nan")

    return {
        "requests": len(latencies),
        "errors": len(errors),
        "error_examples": sorted(set(errors))[:5],
        "connections": connections,
        "seconds": round(elapsed, 2),
        "requests_per_s": round(len(latencies) / elapsed, 1) if elapsed else 0.0,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": round(ordered[-1], 2) if ordered else float("nan"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--lakehouse", help="start `reclake serve` on this lakehouse and load it")
    where.add_argument("--url", help="load a server already running, e.g. http://127.0.0.1:8000")
    parser.add_argument("--ids", help="with --url: file of user ids, one per line")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0, help="stop sending after this long")
    parser.add_argument("--users", type=int, default=1000, help="distinct users to pick from (with --lakehouse)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--log", default="reclake-serve.log", help="the server's output (with --lakehouse)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    args = parser.parse_args(argv)

    def run(url: str, users: list[str]) -> dict:
        return load(url, users, args.requests, args.connections, args.seconds, args.seed)

    if args.lakehouse:
        users = published_users(args.lakehouse, args.users, args.seed)
        with served(args.lakehouse, Path(args.log)) as url:
            figures = run(url, users)
    else:
        if not args.ids:
            parser.error("--url needs --ids")
        figures = run(args.url, [line.strip() for line in Path(args.ids).read_text().splitlines() if line.strip()])
    if args.json:
        print(json.dumps(figures))
    else:
        print(
            f"{figures['requests']} requests over {figures['connections']} connections in {figures['seconds']} s: "
            f"{figures['requests_per_s']} requests/s, {figures['errors']} errors, p50 {figures['p50_ms']} ms, "
            f"p99 {figures['p99_ms']} ms, max {figures['max_ms']} ms"
        )
    return 0 if figures["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
