"""The MLflow pyfunc for one outcome: LightGBM native text + calibrator -> calibrated probability.

Logged as "model from code" (MLflow executes this file at load), so nothing is pickled:
the booster stays LightGBM text and the calibrator and feature spec stay JSON. It returns
probabilities, not class labels, so `mlflow models serve` and `mlflow.pyfunc.spark_udf`
give scores directly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from training.model.calibrator import Calibrator
from training.model.matrix import FeatureSpec, to_matrix


class CalibratedLightGBM(PythonModel):
    """Calibrated churn/renewal/upsell probability from a frame of account signals."""

    def load_context(self, context: Any) -> None:
        self.booster = lgb.Booster(model_file=context.artifacts["booster"])
        self.calibrator = Calibrator.from_dict(json.loads(Path(context.artifacts["calibrator"]).read_text()))
        self.spec = FeatureSpec.from_dict(json.loads(Path(context.artifacts["spec"]).read_text())["spec"])

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> np.ndarray:
        x = to_matrix(pd.DataFrame(model_input), self.spec)
        return self.calibrator.predict(np.asarray(self.booster.predict(x, raw_score=True), dtype=float))


mlflow.models.set_model(CalibratedLightGBM())
