"""Benchmark: held-out churn AUC without and with the text signals on generated worlds (issue 16).

``python -m bench.bench_text_auc 5 1 2`` prints, per seed, the rolling-backtest churn AUC (1,200
accounts x 16 months) without the text and referral signals, with them, and, as the baseline
that bounds what any signal can add, with the ground truth's churn probability as one more input
instead of the text signals.
"""

from __future__ import annotations

import sys

from features.loader import Dataset
from features.signals import TEXT_SIGNALS
from simulator import GeneratorConfig, generate_world
from training.model.matrix import infer_spec
from training.train import TrainConfig, build_training_frame, plan, train_outcome

TEXT = (*TEXT_SIGNALS, "referrals_365d")
ORACLE = "ground_truth_churn_probability"  # trees rank it as they would its log-odds


def measure(seed: int, accounts: int = 1200, months: int = 16) -> dict[str, float]:
    """Held-out churn AUC without text, with text, and with the ground truth instead of text."""
    world = generate_world(GeneratorConfig(accounts=accounts, months=months, seed=seed))
    data = Dataset(world.tables, "generated")
    config = TrainConfig(outcomes=("churn",))
    _, dates, folds = plan(data, config)
    frame, _ = build_training_frame(data, dates, config)
    truth = world.ground_truth[["account_id", "as_of", "churn_probability"]]
    p = frame[["account_id", "as_of"]].merge(truth, on=["account_id", "as_of"], how="left")["churn_probability"]
    frame = frame.assign(**{ORACLE: p.to_numpy()})
    runs = {"without text": (*TEXT, ORACLE), "with text": (ORACLE,), "with the ground truth": TEXT}
    return {
        name: float(
            train_outcome(
                "churn", frame, infer_spec(frame, exclude=("arr_at_as_of", "churn", *drop)), folds, config
            ).metrics["model"]["roc_auc"]
        )
        for name, drop in runs.items()
    }


if __name__ == "__main__":
    for seed in [int(s) for s in sys.argv[1:]] or [5]:
        aucs = measure(seed)
        print(f"seed {seed}: " + ", ".join(f"{name} {auc:.4f}" for name, auc in aucs.items()))
