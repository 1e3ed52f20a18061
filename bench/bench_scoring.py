"""Benchmark of batch scoring with explanations.

Generates a world, trains the three models with the default settings, builds the
signals of every monthly snapshot and draws ``--accounts`` scoring rows from them
(100,000 by default, each given its own account ID). Then, in the same process and on
the same rows, it times:

- ``Scorer.score`` (``explained_s``): three calibrated probabilities, the health score, and
  red and green flags from our exact TreeSHAP (:mod:`training.model.treeshap`), with their sentences;
- plain prediction (``predict_s``): the three calibrated probabilities only, no explanation;
- the churn model's contributions alone, three ways: ours (``ours_shap_s``), LightGBM's
  ``pred_contrib`` (``pred_contrib_s``) and ``shap.TreeExplainer`` (``shap_tree_explainer_s``),
  and the largest difference between ours and ``pred_contrib`` (``max_abs_diff``);
- the API's path: ``Scorer.score_rows`` on batches of 1, 10 and 20 posted accounts (dicts),
  against the same rows through a DataFrame (``Scorer.score``);

each the best of ``--repeat`` runs, and prints the ratios. The targets: ours at most a third of
``pred_contrib``, 100,000 accounts scored and explained in at most 10 s on 2 cores, and
explaining at most 10x plain prediction.

Run: ``python -m bench.bench_scoring [--accounts 100000 --world-accounts 3000 --repeat 3 --json]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from bench import print_figures
from features.builders import build_features, monthly_as_of
from features.loader import Dataset
from serving.scorer import Scorer, eligible_features
from simulator import GeneratorConfig, generate_world
from training.artifact import write_model_folder
from training.model.matrix import to_matrix
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


def best_of(repeat: int, call: Callable[[], object]) -> tuple[float, object]:
    """The fastest of ``repeat`` timed calls (the machine is shared: the minimum is the least disturbed)."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = call()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_scoring", description=__doc__)
    parser.add_argument("--accounts", type=int, default=100_000, help="rows to score")
    parser.add_argument("--world-accounts", type=int, default=3000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3, help="timings are the best of this many runs")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args, _ = parser.parse_known_args(argv)

    world = generate_world(GeneratorConfig(accounts=args.world_accounts, months=args.months, seed=args.seed))
    dataset = Dataset(world.tables, "generated")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "model"
        write_model_folder(train(dataset, TrainConfig()), folder, data_source="generated", fingerprint="bench")
        start = time.perf_counter()
        scorer = Scorer.load(folder)
        load_s = time.perf_counter() - start
        rows = scoring_rows(dataset, scorer, args.accounts, args.seed)
        small = api_batches(scorer, rows)

    def predict() -> dict[str, np.ndarray]:
        x = to_matrix(rows, scorer.bundle.spec)
        return {name: model.predict(x) for name, model in scorer.bundle.outcomes.items()}

    import shap

    booster = scorer.bundle.outcomes["churn"].booster
    x = to_matrix(rows, scorer.bundle.spec)
    explainer = shap.TreeExplainer(booster)
    explained, scores = best_of(args.repeat, lambda: scorer.score(rows))
    predicted, plain = best_of(args.repeat, predict)
    ours, (contrib, _) = best_of(args.repeat, lambda: scorer.explainer.explain(x.to_numpy()))
    native_s, native = best_of(
        args.repeat, lambda: booster.predict(x, pred_contrib=True, num_iteration=booster.best_iteration)
    )
    shap_s, shap_values = best_of(args.repeat, lambda: explainer.shap_values(x))
    np.testing.assert_array_equal(scores["churn_probability"], plain["churn"])
    figures: dict[str, object] = {
        "benchmark": "scoring",
        "rows": args.accounts,
        "trees": booster.num_trees() if booster.best_iteration <= 0 else booster.best_iteration,
        "features": x.shape[1],
        "cpus": len(os.sched_getaffinity(0)),
        "load_avg_1min": round(os.getloadavg()[0], 2),
        "model_load_s": round(load_s, 2),
        "predict_s": round(predicted, 3),
        "explained_s": round(explained, 3),
        "ours_shap_s": round(ours, 3),
        "pred_contrib_s": round(native_s, 3),
        "shap_tree_explainer_s": round(shap_s, 3),
        "max_abs_diff": float(np.max(np.abs(contrib - native))),
        "max_abs_diff_vs_shap": float(np.max(np.abs(contrib[:, :-1] - np.asarray(shap_values)))),
        "accounts_per_s": round(args.accounts / explained),
        "explained_vs_predict": round(explained / predicted, 1),
        "pred_contrib_vs_ours": round(native_s / ours, 1),
        "shap_tree_explainer_vs_ours": round(shap_s / ours, 1),
        "under_10s": explained <= 10,
        **small,
    }
    print_figures(figures, args.json)
    return figures


if __name__ == "__main__":
    main()
