"""Held-out churn AUC with and without the text signals on generated worlds (issue 16).

``python -m bench.text_auc 5 1 2`` prints, per seed, the rolling-backtest AUC without the text
signals, with them, and with an oracle feature instead: the exact planted churn pressure of the
state lived in the month before as_of (what the generated texts are a noisy view of). The oracle
bounds what any text written from that state can add.
"""

from __future__ import annotations

import sys

import numpy as np

import simulator.world as world_module
from features.loader import Dataset
from features.signals import TEXT_SIGNALS
from simulator import GeneratorConfig, generate_world
from simulator.dynamics import _churn_terms, _components, _State
from training.model.matrix import infer_spec
from training.train import TrainConfig, build_training_frame, plan, train_outcome


def measure(seed: int, accounts: int = 1200, months: int = 16) -> tuple[float, float, float]:
    """(without text, with text, with the oracle pressure instead of text) for one seed."""
    states: list[_State] = []
    step = world_module._step

    def recording(s: _State, rng: np.random.Generator, rate: float) -> _State:
        states.append(step(s, rng, rate))
        return states[-1]

    world_module._step = recording  # type: ignore[assignment]
    try:
        world = generate_world(GeneratorConfig(accounts=accounts, months=months, seed=seed))
    finally:
        world_module._step = step
    e = np.stack([_components(s)[0] for s in states], axis=1)
    pressure = np.stack([_churn_terms(s, e[:, max(j - 3, 0)]).sum(0) for j, s in enumerate(states)], axis=1)
    data = Dataset(world.tables, "generated")
    config = TrainConfig(outcomes=("churn",))
    _, dates, folds = plan(data, config)
    frame, _ = build_training_frame(data, dates, config)
    k = ((frame["as_of"].dt.year - 2024) * 12 + frame["as_of"].dt.month - 1).to_numpy()
    a = frame["account_id"].str.slice(1).astype(int).to_numpy()
    frame = frame.assign(oracle_pressure=pressure[a, 4 + k - 1])  # 4 burn-in months, then s_{k-1}
    text = (*TEXT_SIGNALS, "referrals_365d")
    out = []
    for drop in ((*text, "oracle_pressure"), ("oracle_pressure",), text):
        spec = infer_spec(frame, exclude=("arr_at_as_of", "churn", *drop))
        out.append(float(train_outcome("churn", frame, spec, folds, config).metrics["model"]["roc_auc"]))
    return out[0], out[1], out[2]


if __name__ == "__main__":
    for seed in [int(s) for s in sys.argv[1:]] or [5]:
        without, with_text, oracle = measure(seed)
        print(f"seed {seed}: without text {without:.4f}, with text {with_text:.4f}, with oracle pressure {oracle:.4f}")
