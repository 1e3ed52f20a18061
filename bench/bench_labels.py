"""Benchmark: outcome labels on the engine against the pandas oracle, same command.

Generates a world (3,000 accounts x 24 months by default), takes every account at 24 monthly
snapshot dates and computes the contract labels (churn, renewal, upsell) and activity churn
with :func:`training.outcomes.build_labels` on DuckDB and with the pandas definition kept as
the tests' oracle (``tests/outcomes_oracle.py``); prints both times, their ratio and whether
the labels are equal.

Run: ``python -m bench.bench_labels [--accounts N] [--months M] [--json]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd

from features.builders import monthly_as_of
from features.loader import Dataset
from simulator import GeneratorConfig, generate_world
from training.outcomes import OutcomeConfig, build_labels

ORACLE = Path(__file__).resolve().parents[1] / "tests" / "outcomes_oracle.py"
RUNS = {"contract": ("churn", "renewal", "upsell"), "activity": ("churn",)}


def _oracle() -> ModuleType:
    spec = importlib.util.spec_from_file_location("outcomes_oracle", ORACLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _timed(labeller: Callable[..., pd.DataFrame], *args: object) -> tuple[float, pd.DataFrame]:
    start = time.perf_counter()
    result = labeller(*args)
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=3000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    world = generate_world(GeneratorConfig(accounts=args.accounts, months=args.months, seed=7))
    dataset = Dataset(world.tables, "generated")
    oracle = _oracle()
    created = dataset.tables["accounts"]["created_at"]
    dates = monthly_as_of(created.min() + pd.DateOffset(months=1), created.max())[-24:]
    snaps = oracle.spine(dataset, dates)
    report: dict[str, object] = {
        "accounts": args.accounts,
        "events": len(dataset.tables["usage_events"]),
        "snapshots": len(snaps),
    }
    for definition, outcomes in RUNS.items():
        config = OutcomeConfig(churn_definition=definition)
        engine_s, ours = _timed(build_labels, dataset, snaps, outcomes, config)
        pandas_s, theirs = _timed(oracle.build_labels, dataset, snaps, outcomes, config)
        equal = all(np.array_equal(ours[o].to_numpy(), theirs[o].to_numpy(), equal_nan=True) for o in outcomes)
        report[definition] = {
            "engine_s": round(engine_s, 2),
            "pandas_s": round(pandas_s, 2),
            "engine_vs_pandas": round(pandas_s / engine_s, 2),
            "equal": equal,
        }
    if args.json:
        print(json.dumps(report))
        return
    print(f"{report['accounts']} accounts, {report['events']:,} events, {report['snapshots']:,} snapshots")
    for definition in RUNS:
        r = report[definition]
        assert isinstance(r, dict)
        print(
            f"{definition:>8}: engine {r['engine_s']} s, pandas oracle {r['pandas_s']} s "
            f"({r['engine_vs_pandas']}x), equal: {r['equal']}"
        )


if __name__ == "__main__":
    main()
