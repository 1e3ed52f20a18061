"""REST API: body limits, model failures, timeouts, readiness, unsafe settings, logs and `churn serve`."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from api_support import AUTH, KEY, assert_error, loaded_app, make_world_and_model, posted_signal_names, strict_json
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from churn.cli import app as cli
from serving.app import create_app
from serving.settings import Settings


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_world_and_model(tmp_path_factory.mktemp("api-life"))


@pytest.fixture(scope="module")
def app(paths: tuple[Path, Path]):
    # Scoring in a thread of this process, so tests can swap the scorer for a broken one.
    return loaded_app(
        model_dir=paths[1], data_dir=paths[0], max_body_bytes=64 * 1024, request_timeout_s=0.5, scorer_processes=0
    )


@pytest.fixture(scope="module")
def signals_one(app) -> dict[str, float]:
    """Every signal of the served model's catalog at 1.0: a valid posted account."""
    return {name: 1.0 for name in posted_signal_names(app)}


@pytest.fixture(scope="module")
def one_account(signals_one: dict[str, float]) -> dict:
    """A valid body: one posted account."""
    return {"accounts": [{"account_id": "a", "signals": signals_one}]}


@pytest.fixture()
def client(app) -> TestClient:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_oversized_bodies_get_413_before_scoring(app, client: TestClient, one_account) -> None:
    """A declared or a chunked body over the limit is refused with 413 and never reaches the scorer."""
    calls = app.state.service.batcher.calls
    big = b'{"account_ids": ["' + b"a" * (200 * 1024) + b'"]}'
    assert_error(client.post("/v1/score", headers={**AUTH, "Content-Type": "application/json"}, content=big), 413)

    def chunks():
        for _ in range(100):
            yield b" " * 4096

    r = client.post("/v1/score", headers={**AUTH, "Content-Type": "application/json"}, content=chunks())
    assert r.request.headers.get("transfer-encoding") == "chunked" and "content-length" not in r.request.headers
    assert_error(r, 413)
    assert app.state.service.batcher.calls == calls
    assert client.post("/v1/score", headers=AUTH, json=one_account).status_code == 200


@pytest.mark.parametrize("failure", ["nan", "inf", "error"])
def test_model_failures_are_generic_500s(
    app, client: TestClient, monkeypatch, caplog, failure: str, one_account
) -> None:
    """A model emitting NaN/inf or raising gives a strict-JSON 500 with the request id, no traceback or class name."""
    batcher = app.state.service.batcher
    real = batcher.score_records

    def broken(rows):
        if failure == "error":
            raise RuntimeError("secret internals")
        return [{**r, "churn_probability": np.nan if failure == "nan" else np.inf} for r in real(rows)]

    monkeypatch.setattr(batcher, "score_records", broken)
    with caplog.at_level(logging.ERROR, logger="churn.serve"):
        r = client.post("/v1/score", headers=AUTH, json=one_account)
    body = assert_error(r, 500)
    assert body["message"].startswith("internal error")
    for leak in ("RuntimeError", "ModelOutputError", "secret internals", "NaN", "Infinity", 'File "'):
        assert leak not in r.text
    assert r.headers["x-request-id"] in caplog.text  # the log has the story, keyed by request id
    monkeypatch.setattr(batcher, "score_records", real)
    assert client.post("/v1/score", headers=AUTH, json=one_account).status_code == 200


def test_slow_scoring_times_out_with_504(app, client: TestClient, monkeypatch, one_account) -> None:
    """Scoring slower than the deadline gives 504 in time, and the service answers normally afterwards."""
    batcher = app.state.service.batcher
    real = batcher.score_records
    monkeypatch.setattr(batcher, "score_records", lambda rows: (time.sleep(1.0), real(rows))[1])
    started = time.perf_counter()
    assert_error(client.post("/v1/score", headers=AUTH, json=one_account), 504)
    assert time.perf_counter() - started < 0.5 + 1.0
    monkeypatch.setattr(batcher, "score_records", real)
    time.sleep(1.1)  # the slow call drains from the worker thread
    started = time.perf_counter()
    assert client.post("/v1/score", headers=AUTH, json=one_account).status_code == 200
    assert time.perf_counter() - started < 0.5


def test_overload_fails_fast_with_503(app, client: TestClient, monkeypatch, one_account) -> None:
    """Past the bounded queue a request gets 503 with Retry-After at once instead of waiting."""
    monkeypatch.setattr(app.state.service.batcher, "max_pending", 0)
    started = time.perf_counter()
    r = client.post("/v1/score", headers=AUTH, json=one_account)
    assert_error(r, 503)
    assert r.headers["retry-after"] == "1" and time.perf_counter() - started < 0.2


def test_a_dead_scoring_process_fails_requests_and_readiness(paths, one_account) -> None:
    """If the scoring process dies, requests get a generic 500 and /readyz turns 503 (so it gets restarted)."""
    import signal

    app = loaded_app(model_dir=paths[1], data_dir=paths[0])
    batcher = app.state.service.batcher
    with TestClient(app, raise_server_exceptions=False) as c:
        assert c.post("/v1/score", headers=AUTH, json=one_account).status_code == 200
        assert c.get("/readyz").status_code == 200
        for pid in list(batcher.executor._processes):  # the pool's one worker
            os.kill(pid, signal.SIGKILL)
        assert_error(c.post("/v1/score", headers=AUTH, json=one_account), 500)
        assert_error(c.get("/readyz"), 503)
        assert c.get("/v1/risk-list?page_size=1", headers=AUTH).status_code == 503
    app.state.service.close()


def corrupt(model: Path, out: Path, how: str) -> Path:
    shutil.copytree(model, out)
    target = out / "churn.lgbm.txt"
    data = bytearray(target.read_bytes())
    if how == "flip":
        data[len(data) // 2] ^= 0x01
    else:
        data = data[: len(data) // 3]
    target.write_bytes(bytes(data))
    return out


@pytest.mark.parametrize("how", ["flip", "truncate"])
def test_corrupted_model_keeps_the_server_unready(paths, tmp_path: Path, caplog, how: str, one_account) -> None:
    """A bit-flipped or truncated model file fails its checksum: alive, never ready, /v1 503, reason logged."""
    bad = corrupt(paths[1], tmp_path / "model", how)
    settings = Settings(model_dir=bad, data_dir=paths[0], api_key=KEY)
    with caplog.at_level(logging.INFO, logger="churn.serve"), TestClient(create_app(settings)) as c:
        assert c.get("/healthz").status_code == 200
        deadline = time.monotonic() + 30
        while c.app.state.service.status == "loading" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert_error(c.get("/readyz"), 503)
        assert_error(c.post("/v1/score", headers=AUTH, json=one_account), 503)
    assert "not ready" in caplog.text and "churn.lgbm.txt does not match its SHA-256" in caplog.text


def test_ready_only_after_loading(paths) -> None:
    """During start-up /healthz is 200 and /readyz 503; after loading /readyz is 200 with the model version."""
    settings = Settings(model_dir=paths[1], data_dir=paths[0], api_key=KEY)
    with TestClient(create_app(settings)) as c:
        first = c.get("/readyz")
        assert c.get("/healthz").status_code == 200
        if first.status_code != 200:
            assert_error(first, 503)
        deadline = time.monotonic() + 60
        while c.get("/readyz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        ready = c.get("/readyz").json()
    assert ready["status"] == "ready" and ready["model_version"] == c.app.state.service.scorer.version


@pytest.mark.parametrize(
    "kwargs,reason",
    [
        ({}, "no API key"),
        ({"api_key": "short"}, "too short"),
        ({"api_key": "has space in the key 123"}, "printable ASCII"),
        ({"insecure_local": True, "host": "0.0.0.0"}, "loopback"),
        ({"api_key": KEY, "data_dir": None}, "give --data"),
    ],
)
def test_unsafe_settings_are_refused(paths, monkeypatch, kwargs: dict, reason: str) -> None:
    from pydantic import ValidationError

    from serving.settings import settings_error

    monkeypatch.delenv("CHURN_API_KEY", raising=False)
    with pytest.raises(ValidationError) as info:
        Settings(**{"model_dir": paths[1], "data_dir": paths[0], **kwargs})
    assert reason in settings_error(info.value)


def test_insecure_local_runs_open_on_loopback_only(paths, monkeypatch) -> None:
    monkeypatch.delenv("CHURN_API_KEY", raising=False)
    app = loaded_app(model_dir=paths[1], data_dir=paths[0], api_key=None, insecure_local=True)
    with TestClient(app) as c:
        assert c.get("/v1/risk-list?page_size=1").status_code == 200


def test_the_key_never_reaches_logs_or_bodies(app, client: TestClient, caplog) -> None:
    """Requests with the key, near-misses of it and errors log request ids and routes, never the key."""
    with caplog.at_level(logging.DEBUG):
        replies = [
            client.get("/v1/risk-list", headers=AUTH),
            client.get("/v1/risk-list", headers={"Authorization": f"Bearer {KEY}0"}),
            client.get(f"/v1/risk-list?api_key={KEY}"),
            client.post("/v1/score", headers=AUTH, json={"bad": KEY}),
            client.get(f"/v1/accounts/{KEY}", headers=AUTH),
        ]
        logging.getLogger("churn.serve").error("a careless message with %s", KEY)
    server = [rec for rec in caplog.records if rec.name.startswith("churn.serve")]
    assert server and all(KEY not in rec.getMessage() and KEY not in str(getattr(rec, "fields", "")) for rec in server)
    assert "[redacted]" in caplog.text
    assert all(KEY not in r.text for r in replies)
    logged = {
        getattr(rec, "fields", {}).get("request_id"): rec.fields for rec in caplog.records if hasattr(rec, "fields")
    }
    for r in replies:
        assert logged[r.headers["x-request-id"]]["status"] == r.status_code  # each response traceable to its log line


def test_metrics_count_what_happened(client: TestClient) -> None:
    def count(text: str, status: str) -> float:
        line = f'churn_http_requests_total{{method="GET",route="/v1/risk-list",status="{status}"}}'
        return next((float(x.split()[-1]) for x in text.splitlines() if x.startswith(line)), 0.0)

    before = client.get("/metrics", headers=AUTH).text
    for _ in range(3):
        client.get("/v1/risk-list")
    client.get("/v1/risk-list?band=blue", headers=AUTH)
    after = client.get("/metrics", headers=AUTH).text
    assert count(after, "401") - count(before, "401") == 3 and count(after, "422") - count(before, "422") == 1
    assert "churn_ready 1.0" in after


def test_serve_refuses_to_start_without_a_key(paths, monkeypatch, tmp_path: Path) -> None:
    """`churn serve` exits 2 with one line when there is no key, a short key file, or --insecure-local off loopback."""
    monkeypatch.delenv("CHURN_API_KEY", raising=False)
    short = tmp_path / "key"
    short.write_text("abc123\n")
    runner = CliRunner()
    for extra, reason in (
        ([], "no API key"),
        (["--api-key-file", str(short)], "too short"),
        (["--insecure-local", "--host", "0.0.0.0"], "loopback"),
    ):
        result = runner.invoke(cli, ["serve", "--model", str(paths[1]), "--data", str(paths[0]), *extra])
        assert result.exit_code == 2 and reason in result.output and "abc123" not in result.output


def test_churn_serve_prints_url_and_key_hint(paths, tmp_path: Path, signals_one) -> None:
    """`churn serve` listens, prints the URL and a fingerprint of the key (never the key), logs JSON lines;
    on SIGTERM it answers the requests in flight, then exits leaving no scoring process behind."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "CHURN_API_KEY": KEY, "CHURN_MAX_PENDING_ROWS": "10000"}
    cmd = [
        sys.executable,
        "-m",
        "churn",
        "serve",
        "--model",
        str(paths[1]),
        "--data",
        str(paths[0]),
        "--port",
        str(port),
    ]
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    with out.open("w") as o, err.open("w") as e:
        proc = subprocess.Popen(cmd, stdout=o, stderr=e, env=env)
        try:
            deadline, status = time.monotonic() + 90, None
            while time.monotonic() < deadline and status != 200:
                time.sleep(0.3)
                try:
                    status = httpx.get(f"http://127.0.0.1:{port}/readyz").status_code
                except httpx.TransportError:
                    pass
            assert status == 200, err.read_text()[-2000:]
            r = httpx.get(f"http://127.0.0.1:{port}/v1/risk-list?page_size=1", headers=AUTH)
            assert r.status_code == 200 and strict_json(r.text)["total"] > 0
            helpers = descendants(proc.pid)
            assert helpers, "the scoring process runs beside the server"

            # 50 requests of 100 accounts take a second or so to score; SIGTERM comes once the server has
            # received all of them (its in-flight gauge and request counter say so).
            body = {"accounts": [{"account_id": f"a{i}", "signals": signals_one} for i in range(100)]}
            limits = httpx.Limits(max_connections=50, max_keepalive_connections=50)
            with (
                httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=AUTH, limits=limits, timeout=30) as http,
                ThreadPoolExecutor(50) as pool,
            ):

                def post() -> tuple[int, float]:
                    answer = http.post("/v1/score", json=body)
                    return answer.status_code, time.monotonic()

                futures = [pool.submit(post) for _ in range(50)]
                deadline = time.monotonic() + 30
                while received(http) < 50 and time.monotonic() < deadline:
                    time.sleep(0.01)
                signalled = time.monotonic()
                proc.send_signal(signal.SIGTERM)
                refused_after = refusal_delay(port, signalled)
                answers = [f.result() for f in futures]
            assert refused_after < 3, "new connections were still accepted 3 s after SIGTERM"
            assert [code for code, _ in answers] == [200] * 50
            assert any(done > signalled for _, done in answers), "no request was in flight at SIGTERM"
            assert proc.wait(timeout=30) in (0, -signal.SIGTERM)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and (left := [p for p in helpers if running(p)]):
                time.sleep(0.2)
            assert not left, f"scoring processes left running after the server exited: {left}"
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    printed, logs = out.read_text(), err.read_text()
    assert f"http://127.0.0.1:{port}/" in printed and "fingerprint" in printed
    assert KEY not in printed and KEY not in logs
    assert '"route": "/v1/risk-list"' in logs and '"status": 200' in logs
    assert "Application shutdown complete" in logs


def received(http: httpx.Client) -> float:
    """POST /v1/score requests the server has taken in: being handled now (less this /metrics call) or answered."""
    text = http.get("/metrics").text
    in_flight = next(
        float(line.split()[-1]) for line in text.splitlines() if line.startswith("churn_http_requests_in_flight ")
    )
    answered = sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("churn_http_requests_total{") and 'route="/v1/score"' in line
    )
    return in_flight - 1 + answered


def refusal_delay(port: int, since: float, limit: float = 3.0) -> float:
    """Seconds from ``since`` until a new connection to ``port`` is refused (uvicorn closes its listening
    socket at its next tick after the signal), or ``limit`` if it never is."""
    while (waited := time.monotonic() - since) < limit:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                pass
        except OSError:
            return waited
        time.sleep(0.02)
    return limit


def descendants(root: int) -> set[int]:
    """Every process below ``root`` (from /proc)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - found
        found |= frontier
    return found


def running(pid: int) -> bool:
    """Alive and not a zombie (a container's init may never reap an orphan)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
