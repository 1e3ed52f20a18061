"""One writer at a time for score, DuckDB and CRM targets; atomic files; numbers kept finite;
no redirect on a trailing slash; `churn serve` refusing a busy port before loading anything."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from api_support import AUTH, KEY, assert_error, loaded_app, make_world_and_model
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from churn.cli import app as cli
from features.atomic_write import atomic_file, write_text
from features.contract import MAX_MAGNITUDE
from features.errors import DataError
from features.loader import load_dataset
from features.validation import require_valid, validate_dataset
from serving.app import create_app
from serving.crm import read_export
from serving.outputs import read_scores
from serving.settings import Settings
from training.model.folder import FORMAT_VERSION

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}

# `churn score` in its own process, paused inside its write (after taking its locks) until the
# file `release` appears: a deterministic "the other writer is busy", no timing involved.
PAUSED_SCORE = """
import sys, time
from pathlib import Path
from serving import outputs

held, release = Path(sys.argv[1]), Path(sys.argv[2])
storable = outputs.to_storable

def paused(frame):
    held.touch()
    while not release.exists():
        time.sleep(0.05)
    return storable(frame)

outputs.to_storable = paused
from churn.cli import app
app(sys.argv[3:], prog_name="churn")
"""


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_world_and_model(tmp_path_factory.mktemp("reliab-io"), accounts=200)


def _score_args(paths: tuple[Path, Path], *extra: str) -> list[str]:
    return ["score", "--data", str(paths[0]), "--model", str(paths[1]), "--as-of", "latest", *extra]


class PausedWriter:
    """A `churn score` run holding its output locks until :meth:`finish`."""

    def __init__(self, tmp: Path, args: list[str]) -> None:
        self.held, self.release = tmp / "held", tmp / "release"
        cmd = [sys.executable, "-c", PAUSED_SCORE, str(self.held), str(self.release), *args]
        self.proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        while not self.held.exists():
            assert self.proc.poll() is None, self.proc.communicate()[1].decode()[-2000:]
            time.sleep(0.05)

    def finish(self) -> tuple[int, str]:
        self.release.touch()
        _, err = self.proc.communicate(timeout=300)
        return self.proc.returncode, err.decode()


def _churn(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "churn", *args],
        env={**ENV, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _one_line_refusal(run: subprocess.CompletedProcess[str], target: Path) -> None:
    lines = (run.stdout + run.stderr).strip().splitlines()
    assert run.returncode == 2 and len(lines) == 1, run.stdout + run.stderr
    assert f"{target}: another writer (pid" in lines[0] and "Traceback" not in lines[0]


def test_two_writers_of_one_duckdb_file_lose_no_table(paths: tuple[Path, Path], tmp_path: Path) -> None:
    """Item 58: while one run writes table a, a run writing table b of the same .duckdb file is refused
    with one line (exit 2); afterwards the file holds its earlier table and a, and b once retried."""
    target = tmp_path / "scores.duckdb"
    with duckdb.connect(str(target)) as con:
        con.execute("CREATE TABLE base AS SELECT 42 AS answer")
    first = PausedWriter(tmp_path, _score_args(paths, "--out", str(target), "--table", "a"))
    second = _churn(_score_args(paths, "--out", str(target), "--table", "b"))
    code, err = first.finish()
    assert code == 0, err[-2000:]
    _one_line_refusal(second, target)
    with duckdb.connect(str(target), read_only=True) as con:
        assert {r[0] for r in con.execute("SHOW TABLES").fetchall()} == {"base", "a"}
    assert _churn(_score_args(paths, "--out", str(target), "--table", "b")).returncode == 0
    with duckdb.connect(str(target), read_only=True) as con:
        assert {r[0] for r in con.execute("SHOW TABLES").fetchall()} == {"base", "a", "b"}
        assert con.execute("SELECT answer FROM base").fetchone() == (42,)
    pd.testing.assert_frame_equal(  # both tables whole: the same scores, apart from when they were made
        read_scores(target, table="a").drop(columns="scored_at"),
        read_scores(target, table="b").drop(columns="scored_at"),
    )


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_a_second_run_on_a_busy_scores_or_crm_file_is_refused(
    paths: tuple[Path, Path], tmp_path: Path, suffix: str
) -> None:
    """Item 58: a second `churn score` on the same scores file, or on another scores file but the same
    CRM export, exits 2 naming the busy target and writes nothing; the first run's files are whole."""
    out, crm = tmp_path / f"scores{suffix}", tmp_path / "crm.csv"
    other = tmp_path / f"other{suffix}"
    first = PausedWriter(tmp_path, _score_args(paths, "--out", str(out), "--crm-out", str(crm)))
    same_out = _churn(_score_args(paths, "--out", str(out)))
    same_crm = _churn(_score_args(paths, "--out", str(other), "--crm-out", str(crm)))
    code, err = first.finish()
    assert code == 0, err[-2000:]
    _one_line_refusal(same_out, out)
    _one_line_refusal(same_crm, crm)
    assert not other.exists()
    scores, export = read_scores(out), read_export(crm)
    assert len(scores) == len(export) > 0 and scores["account_id"].is_unique
    assert sorted(scores["account_id"]) == sorted(export["Account_External_Id__c"])


def test_an_interrupted_write_keeps_the_old_file_and_the_next_write_sweeps_strays(tmp_path: Path) -> None:
    """Items 53-54: a write that fails midway (a full disk) leaves the previous file whole and no
    temporary; a dead writer's temporary is removed by the next write, another target's is not."""
    target = tmp_path / "report.json"
    write_text(target, "old")
    with pytest.raises(OSError, match="No space"), atomic_file(target) as tmp:
        tmp.write_text("half")
        raise OSError(28, "No space left on device")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stray = tmp_path / f".report.json.{dead.stdout.strip()}.tmp"
    another = tmp_path / ".report.json.bak.1.tmp"  # a temporary of the target "report.json.bak"
    stray.write_text("x")
    another.write_text("x")
    write_text(target, "new")
    assert target.read_text() == "new" and not stray.exists() and another.exists()


def test_numbers_beyond_the_magnitude_limit_are_refused(paths: tuple[Path, Path]) -> None:
    """Item 52 for huge finite values: ARR 1e308 (and amounts, seats, quantities past 1e15) are reported
    with table, column and rows, so no sum or product of them overflows in scoring."""
    dataset = load_dataset(paths[0])
    tables = {name: frame.copy() for name, frame in dataset.tables.items()}
    tables["subscriptions"].loc[3, "arr"] = 1e308
    tables["subscriptions"].loc[5, "seats"] = 10**17
    tables["invoices"].loc[0, "amount"] = MAX_MAGNITUDE * 2
    tables["usage_events"].loc[7, "quantity"] = -1e300
    report = validate_dataset(type(dataset)(tables))
    found = {(p.table, p.column): p for p in report.errors}
    for table, column in (("subscriptions", "arr"), ("subscriptions", "seats"), ("invoices", "amount")):
        assert "values beyond +-1e+15" in found[(table, column)].message
    assert found[("usage_events", "quantity")].count == 1
    assert "e.g. row " in str(found[("subscriptions", "arr")]) and "account_id=" in str(found[("subscriptions", "arr")])
    tables["subscriptions"].loc[3, "arr"] = MAX_MAGNITUDE  # the limit itself is allowed
    assert ("subscriptions", "arr") not in {(p.table, p.column) for p in validate_dataset(type(dataset)(tables)).errors}
    with pytest.raises(DataError, match="subscriptions.arr: values beyond"):
        tables["subscriptions"].loc[3, "arr"] = 1e308
        require_valid(type(dataset)(tables))


def test_churn_score_refuses_an_arr_of_1e308(paths: tuple[Path, Path], tmp_path: Path) -> None:
    """`churn score` on data with ARR 1e308 exits 2 with one line naming the file's table, column and row."""
    data = tmp_path / "data"
    data.mkdir()
    for file in paths[0].glob("*.parquet"):
        frame = pd.read_parquet(file)
        if file.stem == "subscriptions":
            frame.loc[2, "arr"] = 1e308
        frame.to_parquet(data / file.name, index=False)
    result = CliRunner().invoke(
        cli,
        [
            "score",
            "--data",
            str(data),
            "--model",
            str(paths[1]),
            "--as-of",
            "latest",
            "--out",
            str(tmp_path / "s.parquet"),
        ],
    )
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and "subscriptions.arr: values beyond" in lines[0]
    assert "row" in lines[0] and "inf" not in lines[0] and not (tmp_path / "s.parquet").exists()


@pytest.fixture(scope="module")
def client(paths: tuple[Path, Path]):
    with TestClient(loaded_app(model_dir=paths[1], data_dir=paths[0], scorer_processes=0)) as c:
        yield c


@pytest.mark.parametrize("path", ["/v1/accounts/A000001/", "/v1/risk-list/", "/v1/score/", "/v1/nothing"])
def test_a_trailing_slash_is_never_a_redirect(client: TestClient, path: str) -> None:
    """Items 14 and 31: an unmatched /v1 path answers 401 without the key and 404 with it, in the error
    schema, never a 307 (whose Location came from the Host header)."""
    for method in ("GET", "POST"):
        denied = client.request(method, path, headers={"Host": "evil.example"}, follow_redirects=False)
        assert "location" not in denied.headers
        assert assert_error(denied, 401)["error"] == "unauthorized" and "www-authenticate" in denied.headers
        missing = client.request(method, path, headers=AUTH, follow_redirects=False)
        assert assert_error(missing, 404)["error"] == "not_found"


def test_a_known_account_without_the_slash_still_answers(client: TestClient) -> None:
    """The slash-less path is the resource: the fix did not break the route itself."""
    account = client.get("/v1/risk-list?page_size=1", headers=AUTH).json()["items"][0]["account_id"]
    assert client.get(f"/v1/accounts/{account}", headers=AUTH).status_code == 200
    assert assert_error(client.get("/v1/accounts/no-such-account", headers=AUTH), 404)


def test_churn_serve_on_a_busy_port_exits_2_naming_the_port(paths: tuple[Path, Path]) -> None:
    """`churn serve` on a port another process listens on exits 2 with one line naming the port,
    before it loads the model (no page URL printed, no "ready")."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        run = subprocess.run(
            [sys.executable, "-m", "churn", "serve", "--model", str(paths[1]), "--data", str(paths[0])]
            + ["--port", str(port)],
            env={**ENV, "CHURN_API_KEY": KEY},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    lines = (run.stdout + run.stderr).strip().splitlines()
    assert run.returncode == 2 and len(lines) == 1, run.stdout + run.stderr
    assert f"port {port} on 127.0.0.1 is already in use" in lines[0]


def test_churn_serve_refuses_a_model_of_another_format(paths: tuple[Path, Path], tmp_path: Path) -> None:
    """`churn serve` with a model folder of a future format exits 2 with one line, before listening."""
    folder = tmp_path / "model"
    shutil.copytree(paths[1], folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**manifest, "format_version": 99}))
    run = _churn(["serve", "--model", str(folder), "--data", str(paths[0]), "--port", "8"], CHURN_API_KEY=KEY)
    lines = (run.stdout + run.stderr).strip().splitlines()
    assert run.returncode == 2 and len(lines) == 1 and "format 99 is newer" in lines[0], lines


def test_the_api_stays_unready_for_a_model_of_another_format(
    paths: tuple[Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Item 24 for the format: the API with a future-format model is alive, never ready, and logs why."""
    folder = tmp_path / "model"
    shutil.copytree(paths[1], folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**manifest, "format_version": FORMAT_VERSION + 1}))
    settings = Settings(model_dir=folder, data_dir=paths[0], api_key=KEY)
    with caplog.at_level(logging.INFO, logger="churn.serve"), TestClient(create_app(settings)) as c:
        deadline = time.monotonic() + 60  # a generous bound on a failure that comes in milliseconds
        while c.app.state.service.status == "loading" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert c.get("/healthz").status_code == 200
        assert_error(c.get("/readyz"), 503)
    assert (
        f"model folder format {FORMAT_VERSION + 1} is newer than the format this version reads ({FORMAT_VERSION})"
        in caplog.text
    )
