"""Benchmark: `churn features`, `churn train` and `churn score` on Spark against DuckDB, same command.

Generates a world (1,500 accounts x 24 months by default) as Parquet, then runs each command
as a user would, in its own process, once with ``--engine duckdb`` and once with ``--engine
spark`` (local mode with the project's defaults; Spark reads the Parquet files from their
path). Prints each command's wall time on both engines and the ratio, and checks that the
engines agree: features, scores and the trained models' metrics within 1e-9.

Run: ``python -m bench.bench_spark [--accounts N] [--months M] [--work DIR] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ENGINES = ("duckdb", "spark")
BASELINES = ("logistic", "equal_weight")


def without(doc: object, keys: tuple[str, ...]) -> object:
    """A metrics document without the entries named ``keys``, at any depth."""
    if isinstance(doc, dict):
        return {k: without(v, keys) for k, v in doc.items() if k not in keys}
    if isinstance(doc, list):
        return [without(v, keys) for v in doc]
    return doc


def churn(*args: str) -> float:
    """Run one `churn` command; its wall time in seconds (a failure stops the benchmark)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "churn", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"churn {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def max_difference(a: pd.DataFrame, b: pd.DataFrame, keys: list[str]) -> float:
    """Largest absolute difference between the numeric columns of two frames (same rows and columns)."""
    a, b = a.sort_values(keys, ignore_index=True), b.sort_values(keys, ignore_index=True)
    if list(a.columns) != list(b.columns) or len(a) != len(b) or not a[keys].equals(b[keys]):
        return float("inf")
    worst = 0.0
    for col in a.columns:
        if pd.api.types.is_float_dtype(a[col]) or pd.api.types.is_float_dtype(b[col]):
            x, y = a[col].to_numpy(dtype=float), b[col].to_numpy(dtype=float)
            if not np.array_equal(np.isnan(x), np.isnan(y)):
                return float("inf")
            both = ~np.isnan(x)
            worst = max(worst, float(np.max(np.abs(x[both] - y[both]), initial=0.0)))
        elif not a[col].astype(str).equals(b[col].astype(str)):
            return float("inf")
    return worst


def metrics_difference(a: object, b: object) -> float:
    """Largest absolute difference between the numbers of two metrics documents (inf if they differ in shape)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return float("inf")
        return max((metrics_difference(a[k], b[k]) for k in a), default=0.0)
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return float("inf")
        return max((metrics_difference(x, y) for x, y in zip(a, b, strict=True)), default=0.0)
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return 0.0 if a == b or (np.isnan(a) and np.isnan(b)) else abs(float(a) - float(b))
    return 0.0 if a == b else float("inf")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1500)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--work", type=Path, default=Path("/tmp/churn-bench-spark"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    work = args.work / f"{args.accounts}x{args.months}"
    world = work / "world"
    if not (world / "accounts.parquet").exists():
        churn("generate", "--accounts", str(args.accounts), "--months", str(args.months), "--out", str(world))
    dates = pd.date_range("2024-01-01", periods=args.months + 1, freq="MS")[3:-3]  # inside the history
    as_of = ",".join(f"{d:%Y-%m-%d}" for d in dates)
    times: dict[str, dict[str, float]] = {}
    for engine in ENGINES:
        out = work / engine
        out.mkdir(parents=True, exist_ok=True)
        on = ("--engine", engine)
        times[engine] = {
            "features": churn("features", "--data", str(world), "--as-of", as_of, "--out", str(out / "f.parquet"), *on),
            "train": churn("train", "--data", str(world), "--out", str(out / "model"), "--no-mlflow", *on),
            # Both engines score with the DuckDB run's model, so the scores can be compared.
            "score": churn(
                *("score", "--data", str(world), "--model", str(work / "duckdb" / "model")),
                *("--out", str(out / "s.parquet"), *on),
            ),
        }
    duck, spark = work / "duckdb", work / "spark"
    keys = ["account_id", "as_of"]
    features = max_difference(pd.read_parquet(duck / "f.parquet"), pd.read_parquet(spark / "f.parquet"), keys)
    scores_a, scores_b = pd.read_parquet(duck / "s.parquet"), pd.read_parquet(spark / "s.parquet")
    numeric = [c for c in scores_a.columns if pd.api.types.is_float_dtype(scores_a[c])]
    scores = max_difference(scores_a[keys + numeric], scores_b[keys + numeric], keys)
    docs = [json.loads((folder / "model" / "metrics.json").read_text()) for folder in (duck, spark)]
    # The LightGBM models' metrics, then the baselines': the equal-weight score ranks raw values,
    # so values that differ in the 14th digit between engines can swap ranks of near-ties.
    metrics = metrics_difference(*[without(d, BASELINES) for d in docs])
    baselines = metrics_difference(*docs)
    report = {
        "accounts": args.accounts,
        "months": args.months,
        "snapshot_dates": len(dates),
        "seconds": times,
        "ratio": {step: times["spark"][step] / times["duckdb"][step] for step in times["duckdb"]},
        "max_difference": {"features": features, "scores": scores, "model_metrics": metrics, "all_metrics": baselines},
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{args.accounts} accounts x {args.months} months, features at {len(dates)} dates")
    print(f"{'command':<10}{'duckdb s':>10}{'spark s':>10}{'spark/duckdb':>14}")
    for step, ratio in report["ratio"].items():  # type: ignore[attr-defined]
        print(f"{step:<10}{times['duckdb'][step]:>10.1f}{times['spark'][step]:>10.1f}{ratio:>13.1f}x")
    print(f"largest difference: features {features:.2e}, scores {scores:.2e}, model metrics {metrics:.2e}")
    print(f"largest difference of any metric, the baselines' included: {baselines:.2e}")


if __name__ == "__main__":
    main()
