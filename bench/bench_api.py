"""Benchmark: the REST API under load on loopback, single-account scoring with explanations.

Starts `churn serve` in a subprocess (uvicorn, one process, the same command a user runs),
waits for /readyz, then runs a bounded async httpx client: ``--clients`` coroutines (20 by
default), each posting one account's signals to POST /v1/score and waiting for the answer
(probabilities, health score, red and green flags with sentences) before sending the next.
Bodies are real feature rows of the world. Reports p50/p90/p99/max latency, throughput,
errors, and the server's CPU time per request (from /proc). Client and server share the
machine's cores, so the client's own CPU use is part of the measurement.

Run: ``python -m bench.bench_api [--accounts N] [--clients 20] [--seconds 20] [--model DIR --data DIR]``
(without --model/--data it generates a world and trains a model with the default config).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np

KEY = "bench-key-0123456789abcdef"
TARGET_P99_MS = 50.0


def _world_and_model(base: Path, accounts: int) -> tuple[Path, Path]:
    from features.loader import load_dataset
    from simulator import GeneratorConfig, generate_world, write_world
    from training.artifact import write_model_folder
    from training.train import TrainConfig, train

    world, model = base / "world", base / "model"
    print(f"generating {accounts:,} accounts and training the default models ...", flush=True)
    write_world(generate_world(GeneratorConfig(accounts=accounts, months=24, seed=7)), world)
    write_model_folder(train(load_dataset(world), TrainConfig()), model, data_source=str(world), fingerprint="bench")
    return world, model


def _bodies(world: Path, model: Path, n: int = 500) -> list[bytes]:
    """Single-account request bodies built from the latest snapshot's real feature rows."""
    from features.builders import build_features
    from features.loader import load_dataset
    from features.validation import data_end
    from serving.scorer import Scorer
    from serving.service import served_catalog

    dataset = load_dataset(world)
    config = Scorer.load(model).feature_config  # the model's event types: its vocabulary signals are posted too
    frame = build_features(dataset, [data_end(dataset).normalize()], config=config).frame.head(n)
    names = [s.name for s in served_catalog(model)]
    bodies = []
    for row in frame.to_dict("records"):
        signals = {k: None if row[k] is None or row[k] != row[k] else float(row[k]) for k in names}
        account = {"account_id": str(row["account_id"]), "as_of": row["as_of"].isoformat(), "signals": signals}
        bodies.append(json.dumps({"accounts": [account]}).encode())
    return bodies


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tree(root: int) -> dict[int, list[str]]:
    """``/proc/<pid>/stat`` fields (after the name) of a process and all its descendants."""
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stats[int(entry.name)] = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, fields in stats.items() if int(fields[1]) in tree} - tree
        tree, grew = tree | more, bool(more)
    return {pid: stats[pid] for pid in tree if pid in stats}


def _cpu_seconds(root: int, *, descendants: bool = True) -> float:
    """CPU time (user + system) of a process and, by default, all its descendants (the scoring processes)."""
    tree = _tree(root) if descendants else {pid: f for pid, f in _tree(root).items() if pid == root}
    return sum(int(f[11]) + int(f[12]) for f in tree.values()) / os.sysconf("SC_CLK_TCK")


def _rss_mb(root: int) -> float:
    """Resident memory of a process and its descendants, in MB."""
    return sum(int(f[21]) for f in _tree(root).values()) * os.sysconf("SC_PAGE_SIZE") / 1e6


class RawClient:
    """One keep-alive HTTP/1.1 connection speaking just enough HTTP for these requests.

    The server shares the machine's cores with the load generator; httpx spends about 1.7 ms
    of CPU per request, this about a tenth of that, so it measures the server rather than
    the client (as an external load generator such as wrk would).
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port

    async def __aenter__(self) -> RawClient:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.writer.close()

    async def post(self, path: str, body: bytes) -> int:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: Bearer {KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.writer.write(head + body)
        header = await self.reader.readuntil(b"\r\n\r\n")
        status = int(header.split(b" ", 2)[1])
        length = next(
            int(line.split(b":", 1)[1]) for line in header.split(b"\r\n") if line.lower().startswith(b"content-length:")
        )
        await self.reader.readexactly(length)
        return status


async def _load(
    url: str, bodies: list[bytes], clients: int, seconds: float, warmup: float, client_kind: str = "raw"
) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + seconds

    async def run(post: Any, offset: int) -> None:
        nonlocal errors
        i = offset
        while (now := time.perf_counter()) < stop_at:
            status = await post(bodies[i % len(bodies)])
            took = time.perf_counter() - now
            i += clients
            if now >= measure_from:
                latencies.append(took)
                errors += status != 200

    if client_kind == "raw":
        host, port = url.removeprefix("http://").split(":")

        async def raw_worker(offset: int) -> None:
            async with RawClient(host, int(port)) as client:
                await run(lambda body: client.post("/v1/score", body), offset)

        await asyncio.gather(*(raw_worker(k) for k in range(clients)))
    else:
        headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=10) as http:

            async def post(body: bytes) -> int:
                return (await http.post("/v1/score", content=body)).status_code

            await asyncio.gather(*(run(post, k) for k in range(clients)))
    ms = np.array(latencies) * 1000
    return {
        "requests": len(ms),
        "errors": errors,
        "throughput_rps": len(ms) / seconds,
        **{f"p{q}_ms": float(np.percentile(ms, q)) for q in (50, 90, 99)},
        "max_ms": float(ms.max()),
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print a summary, and return the figures as a dict."""
    parser = argparse.ArgumentParser(prog="python -m bench.bench_api", description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=1500, help="world size when generating")
    parser.add_argument("--model", type=Path)
    parser.add_argument("--data", type=Path)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument(
        "--client",
        choices=("raw", "httpx"),
        default="raw",
        help="load generator: raw asyncio HTTP/1.1 (light) or httpx.AsyncClient",
    )
    parser.add_argument("--scorer-processes", type=int, default=1, help="churn serve --scorer-processes")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args, _ = parser.parse_known_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        if args.model and args.data:
            world, model = args.data, args.model
        else:
            world, model = _world_and_model(Path(tmp), args.accounts)
        bodies = _bodies(world, model)
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        cmd = [
            sys.executable,
            "-m",
            "churn",
            "serve",
            "--model",
            str(model),
            "--data",
            str(world),
            "--port",
            str(port),
            "--trend-days",
            "0",
            "--scorer-processes",
            str(args.scorer_processes),
        ]
        with open(Path(tmp) / "server.log", "w") as log:
            server = subprocess.Popen(cmd, env={**os.environ, "CHURN_API_KEY": KEY}, stdout=log, stderr=log)
            try:
                _wait_ready(url, server)
                cpu_before, http_before = _cpu_seconds(server.pid), _cpu_seconds(server.pid, descendants=False)
                rss_after_warmup: list[float] = []
                threading.Timer(args.warmup, lambda: rss_after_warmup.append(_rss_mb(server.pid))).start()
                figures = asyncio.run(_load(url, bodies, args.clients, args.seconds, args.warmup, args.client))
                figures["rss_start_mb"], figures["rss_end_mb"] = rss_after_warmup[0], _rss_mb(server.pid)
                figures["rss_drift"] = figures["rss_end_mb"] / figures["rss_start_mb"] - 1
                total = figures["requests"] + figures["throughput_rps"] * args.warmup  # warm-up requests used CPU too
                per_request = 1000 / max(total, 1)
                figures["server_cpu_ms_per_request"] = (_cpu_seconds(server.pid) - cpu_before) * per_request
                http_cpu = _cpu_seconds(server.pid, descendants=False) - http_before
                figures["http_cpu_ms_per_request"] = http_cpu * per_request
            finally:
                server.terminate()
                server.wait(timeout=30)
    figures.update(
        clients=args.clients,
        client=args.client,
        seconds=args.seconds,
        cores=os.cpu_count(),
        scorer_processes=args.scorer_processes,
        target_p99_ms=TARGET_P99_MS,
    )
    print(json.dumps(figures, indent=2) if args.json else _summary(figures))
    return figures


def _wait_ready(url: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"churn serve exited with {server.returncode}")
        try:
            if httpx.get(f"{url}/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError("the server did not become ready within 300 s")


def _summary(f: dict[str, Any]) -> str:
    verdict = "met" if f["p99_ms"] < f["target_p99_ms"] else "MISSED"
    scoring = f["server_cpu_ms_per_request"] - f["http_cpu_ms_per_request"]
    return (
        f"POST /v1/score, one account with explanations, {f['clients']} concurrent {f['client']} clients, "
        f"{f['seconds']:g} s on {f['cores']} cores, {f['scorer_processes']} scoring process(es)\n"
        f"requests {f['requests']:,} ({f['errors']} errors), throughput {f['throughput_rps']:,.0f} req/s\n"
        f"latency p50 {f['p50_ms']:.1f} ms, p90 {f['p90_ms']:.1f} ms, p99 {f['p99_ms']:.1f} ms, "
        f"max {f['max_ms']:.1f} ms (target p99 < {f['target_p99_ms']:g} ms: {verdict})\n"
        f"server CPU {f['server_cpu_ms_per_request']:.2f} ms per request, of which the HTTP process "
        f"{f['http_cpu_ms_per_request']:.2f} ms and scoring {scoring:.2f} ms\n"
        f"server memory (RSS, all processes) {f['rss_start_mb']:,.0f} MB after warm-up, {f['rss_end_mb']:,.0f} MB "
        f"at the end ({f['rss_drift']:+.1%})"
    )


if __name__ == "__main__":
    main()
