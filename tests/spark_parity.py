"""Run by tests/test_features_spark.py in a fresh process whose TZ is not UTC.

Builds features for a generated world on DuckDB from pandas frames and on Spark from the
world's Parquet files and from the same tables as CSV files (read by Spark itself), and exits non-zero with a message when they
differ (floats within 1e-9, counts exactly).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from pit_worlds import assert_frames_match

from features.builders import build_features, monthly_as_of
from features.loader import Dataset, load_dataset
from simulator import GeneratorConfig, generate_world, write_world


def main() -> int:
    assert time.tzname[0] != "UTC", f"expected a non-UTC host time zone, got {time.tzname}"
    world = generate_world(GeneratorConfig(accounts=60, months=8, seed=7, gt_paths=4))
    data = Dataset(world.tables, "generated")
    dates = monthly_as_of("2024-02-01", "2024-08-01")
    duck = build_features(data, dates, engine="duckdb")
    # A plain local session with Spark's defaults: its session time zone is the host's.
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    default_tz = session.conf.get("spark.sql.session.timeZone")
    assert default_tz != "UTC", default_tz
    with tempfile.TemporaryDirectory() as folder:
        write_world(world, folder)
        stored = load_dataset(folder)
        assert stored.lazy
        spark = build_features(stored, dates, engine="spark")  # reuses the active session
        csv_folder = Path(folder) / "csv"
        csv_folder.mkdir()
        for name, frame in world.tables.items():
            frame.to_csv(csv_folder / f"{name}.csv", index=False)
        from_csv = build_features(load_dataset(csv_folder), dates, engine="spark")
    assert duck.skipped == spark.skipped == from_csv.skipped
    assert len(duck.frame) > 100, len(duck.frame)
    assert_frames_match(spark.frame, duck.frame)
    assert_frames_match(from_csv.frame, duck.frame)
    print(
        f"parity ok (DuckDB from pandas, Spark from Parquet and from CSV): {len(duck.frame)} rows x {len(duck.signals)} signals, "
        f"host tz={time.tzname}, Spark default {default_tz}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
