"""MLflow logging of a training run: parameters, data fingerprint, git commit, metrics,
plots and one pyfunc model per outcome, registered with the alias ``champion``.

The default store is local (a SQLite file beside the model folder, no server);
``tracking_uri`` points it at a team server instead.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import mlflow
import numpy as np
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from training import plots
from training.model.matrix import to_matrix
from training.train import TrainingResult

# A batch job's log should hold our lines, not MLflow's download bars and table migrations.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
logging.getLogger("mlflow").setLevel(logging.WARNING)

PYFUNC_CODE = Path(__file__).with_name("mlflow_pyfunc.py")
TRAINING_PACKAGE = Path(__file__).parent
EXPERIMENT = "account-health"


def default_tracking_uri(base: Path) -> str:
    return f"sqlite:///{(base / 'mlflow.db').resolve()}"


def log_training_run(
    result: TrainingResult,
    folder: Path,
    *,
    tracking_uri: str,
    experiment: str = EXPERIMENT,
    register_as: str | None = "account-health",
    sample_rows: int = 200,
) -> str:
    """Log the run and return its run id."""
    mlflow.set_tracking_uri(tracking_uri)
    if mlflow.get_experiment_by_name(experiment) is None:
        artifacts = (Path(tracking_uri.removeprefix("sqlite:///")).parent / "mlartifacts").resolve()
        location = artifacts.as_uri() if tracking_uri.startswith("sqlite:///") else None
        mlflow.create_experiment(experiment, artifact_location=location)
    mlflow.set_experiment(experiment)
    manifest = json.loads((folder / "manifest.json").read_text())
    with mlflow.start_run(run_name=f"train-{manifest['model_version']}") as run:
        mlflow.log_params(_flat_params(result))
        mlflow.set_tags(
            {
                "data_fingerprint": manifest["data_fingerprint"],
                "git_commit": manifest["git_commit"],
                "model_version": manifest["model_version"],
                "data_source": manifest["data_source"],
            }
        )
        sample = to_matrix(result.frame.head(sample_rows), result.spec)
        for name, model in result.models.items():
            for family, values in model.metrics.items():
                prefix = name if family == "model" else f"{name}.{family}"
                mlflow.log_metrics({f"{prefix}.{k}": float(v) for k, v in values.items() if np.isfinite(v)})
            for fold in getattr(model, "folds", ()):  # the backtest: each held-out fold's own metrics
                for family in ("model", "logistic", "equal_weight"):
                    prefix = f"{name}.fold{fold['fold']}" + ("" if family == "model" else f".{family}")
                    values = fold[family]
                    mlflow.log_metrics({f"{prefix}.{k}": float(v) for k, v in values.items() if np.isfinite(v)})
            _log_figures(name, model, result)
            signature = infer_signature(sample, model.predict(sample))
            info = mlflow.pyfunc.log_model(
                name=f"{name}_model",
                python_model=str(PYFUNC_CODE),
                artifacts={
                    "booster": str(folder / f"{name}.lgbm.txt"),
                    "calibrator": str(folder / f"{name}.calibrator.json"),
                    "spec": str(folder / "features.json"),
                },
                code_paths=[str(TRAINING_PACKAGE)],
                signature=signature,
                input_example=sample.head(3),
            )
            if register_as:
                _register(info.model_uri, f"{register_as}-{name}")
        mlflow.log_artifacts(str(folder), artifact_path="model_folder")
        return run.info.run_id


def _log_figures(name: str, model: Any, result: TrainingResult) -> None:
    preds = model.test_predictions
    y, p = preds["y"].to_numpy(), preds["p"].to_numpy()
    test = result.frame[result.frame["as_of"].isin(result.dates["test"]) & result.frame[name].notna()]
    x_test = to_matrix(test, result.spec)
    for label, fig in (
        ("calibration", plots.calibration_curve(y, p, name)),
        ("lift", plots.lift_chart(y, p, name)),
        ("shap_summary", plots.shap_summary(model.booster, x_test, name)),
        ("feature_importance", plots.feature_importance(model.booster, name)),
    ):
        mlflow.log_figure(fig, f"plots/{name}_{label}.png")
        plt.close(fig)


def _register(model_uri: str, name: str) -> None:
    version = mlflow.register_model(model_uri, name)
    MlflowClient().set_registered_model_alias(name, "champion", version.version)


def _flat_params(result: TrainingResult) -> dict[str, Any]:
    config = asdict(result.config)
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            flat[key] = value
    flat["n_features"] = len(result.spec.names)
    flat["cadence"] = getattr(result, "every", "1M")
    flat["backtest_folds"] = len(getattr(result, "backtest", ()))
    return flat
