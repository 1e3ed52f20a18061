"""Shared by the API, Schemathesis and browser tests: a small world, a quickly trained model, a loaded app."""

from __future__ import annotations

import fcntl
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
from fastapi import FastAPI

from features.config import FeatureConfig
from features.loader import load_dataset
from serving.app import create_app
from serving.schemas import ErrorBody
from serving.service import Service
from serving.settings import Settings
from simulator import GENERATED_KEY_EVENTS, GeneratorConfig, generate_world, write_world
from training.artifact import write_model_folder
from training.lgbm import LGBMParams
from training.train import TrainConfig, train

KEY = "test-key-0123456789-abcdefghij"
AUTH = {"Authorization": f"Bearer {KEY}"}
# The generated world's key events, as its churn.toml names them.
FAST = TrainConfig(
    lgbm=LGBMParams(num_boost_round=60, early_stopping_rounds=20),
    folds=2,
    features=FeatureConfig(key_events=GENERATED_KEY_EVENTS),
)


def make_world_and_model(base: Path, accounts: int = 300) -> tuple[Path, Path]:
    """A generated world (a few hundred accounts, 18 months) and a model folder trained on it, in ``base``.

    Six test files use the same world and model, so they are built once per test run (under a
    file lock, which the pytest-xdist workers share) and copied: each file still gets its own
    folders to change.
    """
    cache = _run_root(base) / f"world-and-model-{accounts}"
    with _locked(cache.with_name(cache.name + ".lock")):
        if not (cache / "complete").exists():
            shutil.rmtree(cache, ignore_errors=True)
            write_world(generate_world(GeneratorConfig(accounts=accounts, months=18, seed=3)), cache / "world")
            trained = train(load_dataset(cache / "world"), FAST)
            write_model_folder(trained, cache / "model", data_source="generated world", fingerprint="test")
            (cache / "complete").touch()
    world, model = base / "world", base / "model"
    shutil.copytree(cache / "world", world)
    shutil.copytree(cache / "model", model)
    return world, model


def _run_root(base: Path) -> Path:
    """The temporary folder of this whole test run: above the xdist worker's own (``popen-gw0``)."""
    for parent in base.parents:
        if parent.name.startswith("popen-gw"):
            return parent.parent
    return base.parent


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def loaded_app(**settings: Any) -> FastAPI:
    """An app whose service has already loaded (synchronously), so no lifespan is needed."""
    config = Settings(**{"api_key": KEY, **settings})
    service = Service(config)
    service.load()
    assert service.ready, service.reason
    return create_app(config, service=service)


def strict_json(text: str) -> Any:
    """Parse JSON refusing NaN/Infinity tokens, as a strict client would."""

    def refuse(token: str) -> Any:
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


def assert_error(response: Any, status: int) -> dict[str, Any]:
    """The response has ``status``, the one error schema, and the request id of its header."""
    assert response.status_code == status, response.text
    body = strict_json(response.text)
    ErrorBody.model_validate(body)
    assert body["status"] == status
    assert body["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text
    return body


def posted_signal_names(app: FastAPI) -> list[str]:
    """The signals a posted account carries, as the app's OpenAPI lists them (the served model's catalog)."""
    return list(app.openapi()["components"]["schemas"]["SignalValues"]["properties"])


def signal_payload(row: pd.Series, signals: list[str]) -> dict[str, float | None]:
    return {name: None if pd.isna(row[name]) else float(row[name]) for name in signals}


def backfill_history(world: Path, model: Path, dates: list[str]) -> Path:
    """Score ``dates`` point-in-time into the history beside ``model`` (as `churn score --backfill` does)."""
    from serving.history import default_path, record
    from serving.history_runs import score_explained
    from serving.scorer import Scorer

    scorer, dataset, previous = Scorer.load(model), load_dataset(world), None
    for day in dates:
        scored = score_explained(dataset, scorer, pd.Timestamp(day, tz="UTC"), previous=previous)
        record(default_path(model), scored.history_scores, scored.history_details)
        previous = scored.scores
    return default_path(model)
