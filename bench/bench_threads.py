"""Benchmark: LightGBM training on one thread against two, alone and with the cores shared.

Builds the churn training frame of a generated world (800 accounts x 20 months by default), then
trains 300 boosting rounds with the project's parameters at ``num_threads`` 1 and 2: once alone,
and once as two trainings at the same time (as two test workers, or a training beside a scoring
job, share a 2-core machine). Prints each wall time and the ratio two threads / one thread.

Run: ``python -m bench.bench_threads [--accounts N] [--months M] [--rounds R]``.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.loader import Dataset
from simulator import GeneratorConfig, generate_world
from training.lgbm import LGBMParams
from training.model.matrix import infer_spec, to_matrix
from training.train import TrainConfig, build_training_frame, plan


def _frame(accounts: int, months: int) -> tuple[pd.DataFrame, np.ndarray]:
    world = generate_world(GeneratorConfig(accounts=accounts, months=months, seed=5))
    data = Dataset(world.tables, "generated")
    config = TrainConfig(outcomes=("churn",))
    _, dates, _ = plan(data, config)
    frame, _ = build_training_frame(data, dates, config)
    settled = frame[frame["churn"].notna()]
    return to_matrix(settled, infer_spec(settled, exclude=("arr_at_as_of", "churn"))), settled["churn"].to_numpy(float)


def _train(x: pd.DataFrame, y: np.ndarray, threads: int, rounds: int) -> float:
    params = LGBMParams(num_threads=threads).booster_params(seed=42)
    start = time.perf_counter()
    lgb.train(params, lgb.Dataset(x, label=y), num_boost_round=rounds)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=800)
    parser.add_argument("--months", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args(argv)
    x, y = _frame(args.accounts, args.months)
    print(f"{len(x):,} snapshots x {x.shape[1]} inputs, {args.rounds} rounds")
    times: dict[tuple[str, int], float] = {}
    with ProcessPoolExecutor(2) as pool:
        for threads in (1, 2):
            times["alone", threads] = _train(x, y, threads, args.rounds)
            pair = [pool.submit(_train, x, y, threads, args.rounds) for _ in range(2)]
            times["shared", threads] = max(f.result() for f in pair)
    for mode in ("alone", "shared"):
        one, two = times[mode, 1], times[mode, 2]
        print(f"{mode:>6}: 1 thread {one:.2f} s, 2 threads {two:.2f} s (2 threads / 1 thread {two / one:.2f}x)")


if __name__ == "__main__":
    main()
