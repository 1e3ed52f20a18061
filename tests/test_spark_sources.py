"""Datasets only Spark reads: Parquet folders at a URI and tables of Spark's catalog (issue 12)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from worlds import generated_world

from features.builders import build_features, monthly_as_of
from features.loader import load_dataset
from features.spark_source import open_spark_dataset
from features.validation import validate_dataset
from training.outcomes import eligible

pytestmark = [pytest.mark.spark, pytest.mark.slow]
TABLES = (
    "accounts",
    "usage_events",
    "support_tickets",
    "surveys",
    "invoices",
    "subscriptions",
    "csm_inputs",
    "referrals",
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated_world(tmp_path_factory, accounts=60, months=14, seed=3)


def copy_to_lake(spark, world: Path, lake: Path, parts: int) -> None:
    """Each Parquet file of ``world`` rewritten by Spark as a folder of ``parts`` part files."""
    spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    for name in TABLES:
        frame = spark.read.parquet((world / f"{name}.parquet").as_uri())
        (frame.repartition(parts) if parts > 1 else frame.coalesce(1)).write.parquet(
            (lake / f"{name}.parquet").as_uri()
        )


def test_features_from_a_uri_and_from_the_catalog_equal_duckdb_on_the_files(spark, world: Path, tmp_path: Path) -> None:
    """Spark reads the tables where they lie, from a folder URI or from catalog tables, and
    computes the features and the scoring population DuckDB computes from the local files; no
    table passes through pandas."""
    lake = tmp_path / "lake"
    copy_to_lake(spark, world, lake, parts=3)
    spark.sql(f"CREATE DATABASE IF NOT EXISTS crm_lake LOCATION '{(tmp_path / 'warehouse').as_uri()}'")
    for name in TABLES:
        spark.read.parquet((lake / f"{name}.parquet").as_uri()).write.mode("overwrite").saveAsTable(f"crm_lake.{name}")
    dates = monthly_as_of("2024-06-01", "2025-01-01")
    want = build_features(load_dataset(world), dates).frame
    for location in (lake.as_uri(), "spark_catalog.crm_lake"):
        dataset = open_spark_dataset(location)
        assert dataset.lazy and all(t.on_spark for t in dataset.stored.values()), location
        assert set(dataset.stored) == set(TABLES)
        assert dataset.stored["usage_events"].rows == len(pd.read_parquet(world / "usage_events.parquet"))
        report = validate_dataset(dataset)
        assert not [p for p in report.problems if p.severity == "error"], report.problems
        got = build_features(dataset, dates, engine="spark").frame
        pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-9, atol=1e-9)
        snaps = want[["account_id", "as_of"]]  # the scoring population, asked without naming an engine
        assert (eligible(dataset, snaps) == eligible(load_dataset(world), snaps)).all()
        assert dataset.tables.read == [], "no whole table was read into pandas"


def test_broken_tables_on_spark_get_the_messages_duckdb_gives(spark, world: Path, tmp_path: Path) -> None:
    """Validation runs on Spark with the same rules and one-line messages, example rows included."""
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in TABLES:
        frame = pd.read_parquet(world / f"{name}.parquet")
        if name == "accounts":
            frame = pd.concat([frame, frame.iloc[[0]]], ignore_index=True)  # a duplicate account_id
        if name == "usage_events":
            frame.loc[3, "account_id"] = "nobody"  # an account the accounts table lacks
            frame.loc[5, "timestamp"] = pd.NaT  # a required value missing
        if name == "surveys":
            frame.loc[frame.index[frame["kind"] == "nps"][0], "score"] = 11.0  # out of the NPS range
        frame.to_parquet(broken / f"{name}.parquet", index=False)
    lake = tmp_path / "lake"
    copy_to_lake(spark, broken, lake, parts=1)  # one part file: the same row numbers as the local file
    on_duckdb = validate_dataset(load_dataset(broken)).problems
    on_spark = validate_dataset(open_spark_dataset(lake.as_uri())).problems
    assert len(on_duckdb) >= 4
    assert [str(p) for p in on_spark] == [str(p) for p in on_duckdb]


def test_a_uri_needs_the_spark_engine(tmp_path: Path) -> None:
    """`--data s3a://...` with the default engine is refused in one line, before anything runs."""
    argv = [sys.executable, "-m", "churn", "features", "--data", "s3a://bucket/crm", "--as-of", "2025-01-01"]
    done = subprocess.run([*argv, "--out", str(tmp_path / "f.parquet")], capture_output=True, text=True)
    assert done.returncode == 2
    assert "only --engine spark reads" in done.stderr + done.stdout
    assert "Traceback" not in done.stderr
