"""Benchmark of batch scoring with explanations.

Generates a world, trains the three models with the default settings, builds the
signals of every monthly snapshot and draws ``--accounts`` scoring rows from them
(100,000 by default, each given its own account ID). Then, in the same process and on
the same rows, it times:

- ``Scorer.score``: three calibrated probabilities, the health score, and red and green
  flags from LightGBM's native TreeSHAP, with their sentences;
- plain prediction: the three calibrated probabilities only, no explanation;
- ``shap.TreeExplainer`` on the churn model: the contributions alone;
- the API's path: ``Scorer.score_rows`` on batches of 1, 10 and 20 posted accounts (dicts),
  against the same rows through a DataFrame (``Scorer.score``);

and prints accounts per second and the ratios. The target is 100,000 accounts scored and
explained in under 60 s on 2 cores.

Run: ``python -m bench.bench_scoring [--accounts 100000 --world-accounts 3000 --json]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from bench import print_figures
from features.builders import build_features, monthly_as_of
from features.generator import GeneratorConfig, generate_world
from features.loader import Dataset
from serving.scorer import Scorer, eligible_features
from training.artifact import write_model_folder
from training.matrix import to_matrix
from training.train import TrainConfig, train


def scoring_rows(dataset: Dataset, scorer: Scorer, n: int, seed: int) -> pd.DataFrame:
    """``n`` eligible snapshot rows drawn from every month of the world, with unique IDs."""
    events = dataset.tables["usage_events"]["timestamp"]
    dates = monthly_as_of(events.min() + pd.Timedelta(days=90), events.max())
    rows = eligible_features(dataset, build_features(dataset, dates).frame, scorer.outcome_config)
    picked = rows.sample(n=n, replace=n > len(rows), random_state=seed).reset_index(drop=True)
    return picked.assign(account_id=[f"B{i:07d}" for i in range(n)])


def api_batches(
    scorer: Scorer, rows: pd.DataFrame, sizes: Sequence[int] = (1, 10, 20), seconds: float = 2.0
) -> dict[str, float]:
    """The API's path: ms per scorer call on a few posted accounts as dicts (``score_rows``), and
    how many times faster that is than the same rows through a DataFrame (``score``)."""
    records = [{k: (None if v is pd.NA else v) for k, v in r.items()} for r in rows.head(200).to_dict("records")]
    out: dict[str, float] = {}
    for size in sizes:
        batches = [records[i : i + size] for i in range(0, len(records), size)]
        as_dicts = _ms_per_call(scorer.score_rows, batches, seconds)
        through_frame = lambda b: scorer.score(pd.DataFrame.from_records(b)).to_dict("records")  # noqa: E731
        as_frame = _ms_per_call(through_frame, batches, seconds)
        out[f"api_batch_{size}_ms"] = round(as_dicts, 2)
        out[f"api_batch_{size}_speedup_vs_dataframe"] = round(as_frame / as_dicts, 1)
    return out


def _ms_per_call(call: Callable[[list], object], batches: list[list], seconds: float) -> float:
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for batch in batches:
            call(batch)
        calls += len(batches)
    return (time.perf_counter() - start) * 1000 / calls


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_scoring", description=__doc__)
    parser.add_argument("--accounts", type=int, default=100_000, help="rows to score")
    parser.add_argument("--world-accounts", type=int, default=3000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args, _ = parser.parse_known_args(argv)

    world = generate_world(GeneratorConfig(accounts=args.world_accounts, months=args.months, seed=args.seed))
    dataset = Dataset(world.tables, "generated")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "model"
        write_model_folder(train(dataset, TrainConfig()), folder, data_source="generated", fingerprint="bench")
        scorer = Scorer.load(folder)
        rows = scoring_rows(dataset, scorer, args.accounts, args.seed)

        start = time.perf_counter()
        scores = scorer.score(rows)
        explained = time.perf_counter() - start

        start = time.perf_counter()
        x = to_matrix(rows, scorer.bundle.spec)
        plain = {name: model.predict(x) for name, model in scorer.bundle.outcomes.items()}
        predicted = time.perf_counter() - start

        import shap

        booster = scorer.bundle.outcomes["churn"].booster
        start = time.perf_counter()
        shap_values = shap.TreeExplainer(booster).shap_values(x)
        shap_seconds = time.perf_counter() - start
        small = api_batches(scorer, rows)

    native = booster.predict(x, pred_contrib=True, num_iteration=booster.best_iteration)[:, :-1]
    np.testing.assert_allclose(scores["churn_probability"], plain["churn"], rtol=0, atol=1e-12)
    figures: dict[str, object] = {
        "benchmark": "scoring",
        "accounts": args.accounts,
        "trees": booster.num_trees() if booster.best_iteration <= 0 else booster.best_iteration,
        "features": x.shape[1],
        "scored_and_explained_s": round(explained, 2),
        "accounts_per_s": round(args.accounts / explained),
        "plain_prediction_s": round(predicted, 2),
        "shap_tree_explainer_s": round(shap_seconds, 2),
        "cost_vs_plain_prediction": round(explained / predicted, 1),
        "speedup_vs_shap_tree_explainer": round(shap_seconds / explained, 2),
        "max_abs_diff_native_vs_shap": float(np.max(np.abs(native - np.asarray(shap_values)))),
        "under_60s": explained < 60,
        **small,
    }
    print_figures(figures, args.json)
    return figures


if __name__ == "__main__":
    main()
