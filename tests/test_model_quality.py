"""The churn model on a generated world: near the ground-truth ceiling, calibrated, better than baselines."""

from __future__ import annotations

from pathlib import Path

import pytest
from sklearn.metrics import roc_auc_score

from features.generator import GeneratorConfig, generate_world, write_world
from features.loader import load_dataset
from training.train import TrainConfig, train


@pytest.mark.slow
def test_churn_model_reaches_the_ceiling(tmp_path: Path) -> None:
    """It reaches at least 0.95 of the ground-truth AUC on the test snapshots, with ECE <= 0.03,
    and beats the logistic and equal-weight baselines; the health scorecard learned from it keeps
    at least 0.90 of its AUC, clearly beats the equal-weight score, and its red band churns at
    least 3x as often as its green band."""
    world = generate_world(GeneratorConfig(accounts=3000, months=24, seed=11))
    write_world(world, tmp_path)
    result = train(load_dataset(tmp_path), TrainConfig(outcomes=("churn",)))
    model = result.models["churn"]
    joined = model.test_predictions.merge(world.ground_truth, on=["account_id", "as_of"], how="inner")
    assert len(joined) == len(model.test_predictions)
    model_auc = roc_auc_score(joined["y"], joined["p"])
    ceiling = roc_auc_score(joined["y"], joined["churn_probability"])
    metrics = model.metrics
    print(f"\nchurn test AUC {model_auc:.4f}, ground truth {ceiling:.4f}, ratio {model_auc / ceiling:.3f}, "
          f"ECE {metrics['model']['ece']:.4f}, logistic {metrics['logistic']['roc_auc']:.4f}, "
          f"equal-weight {metrics['equal_weight']['roc_auc']:.4f}")
    assert model_auc >= 0.95 * ceiling
    assert model_auc <= ceiling + 0.02, "a model far above the ceiling means leakage"
    assert metrics["model"]["ece"] <= 0.03
    assert metrics["model"]["roc_auc"] > metrics["logistic"]["roc_auc"]
    assert metrics["model"]["roc_auc"] > metrics["equal_weight"]["roc_auc"]
    assert metrics["model"]["log_loss"] < min(metrics["logistic"]["log_loss"], metrics["equal_weight"]["log_loss"])

    # The health scorecard learned from this model keeps most of its ranking power (issue 5).
    health = result.scorecard.info["backtest"]
    bands = health["bands"]
    print(f"health score AUC {health['scorecard']['roc_auc']:.4f} (ratio {health['auc_ratio_to_model']:.3f}), "
          f"equal-weight {health['equal_weight']['roc_auc']:.4f}, churn rate red {bands['red']['churn_rate']:.4f}, "
          f"yellow {bands['yellow']['churn_rate']:.4f}, green {bands['green']['churn_rate']:.4f}")
    assert health["scorecard"]["roc_auc"] >= 0.90 * health["model"]["roc_auc"]
    assert health["scorecard"]["roc_auc"] >= health["equal_weight"]["roc_auc"] + 0.05
    assert bands["red"]["churn_rate"] >= 3 * bands["green"]["churn_rate"]
