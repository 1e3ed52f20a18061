"""Scoring on Spark writes the scores from the executors: none of them travel through the driver."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from api_support import make_world_and_model

from features.builders import build_features
from features.loader import load_dataset
from serving.outputs import from_storable
from serving.scorer import Scorer, eligible_features

pytestmark = [pytest.mark.spark, pytest.mark.slow]
TESTS = Path(__file__).parent
COPIES = 12  # the eligible accounts, each a dozen times under other IDs: scores of several MB


@pytest.mark.skipif(shutil.which("java") is None, reason="needs Java")
def test_spark_scores_are_written_by_the_executors(tmp_path: Path) -> None:
    """Under a 1 MB spark.driver.maxResultSize, collecting the scores fails and writing them succeeds,
    with the embedded scorer's numbers and flags for every row."""
    pytest.importorskip("pyspark")
    world, model = make_world_and_model(tmp_path)
    scorer = Scorer.load(model)
    dataset = load_dataset(world)
    as_of = pd.Timestamp("2025-05-01", tz="UTC")
    features = build_features(dataset, [as_of], config=scorer.feature_config).frame
    one = eligible_features(dataset, features, scorer.outcome_config)
    rows = pd.concat(
        [one.assign(account_id=one["account_id"].astype(str) + f"~{i}") for i in range(COPIES)], ignore_index=True
    )
    rows_file, out = tmp_path / "rows.parquet", tmp_path / "scores"
    rows.to_parquet(rows_file)
    scored_at = pd.Timestamp("2025-05-01T06:00:00Z")

    run = subprocess.run(
        [
            sys.executable,
            str(TESTS / "spark_scoring_run.py"),
            str(model),
            str(rows_file),
            str(out),
            scored_at.isoformat(),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS.parent)])},
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["maxResultSize"] == "1m"
    assert report["collect_error"] is not None and "maxResultSize" in report["collect_error"], report

    written = from_storable(pd.read_parquet(out)).sort_values("account_id", ignore_index=True)
    expected = scorer.score(rows, scored_at=scored_at).sort_values("account_id", ignore_index=True)
    assert len(written) == len(rows) > 1000
    pd.testing.assert_frame_equal(written[list(expected.columns)], expected, check_dtype=False, rtol=1e-9)
    from_timestamps = from_storable(pd.read_parquet(f"{out}-timestamps")).sort_values("account_id", ignore_index=True)
    pd.testing.assert_frame_equal(from_timestamps, written)
