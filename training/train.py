"""Train churn, renewal and upsell models with time-based validation and calibration.

The flow: monthly snapshot dates whose outcome windows the data settles -> point-in-time
features (``features.builders``) -> labels (``training.outcomes``) -> a split by date
(train on the earliest dates, early-stop and calibrate on the next ones, test on the
latest) -> per outcome a LightGBM model, a calibrator, and two baselines, all scored on
the test dates. There is no random split anywhere in this path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.contract import TABLE_SPECS
from features.loader import Dataset
from features.signals import SIGNALS_BY_NAME
from features.validation import data_end
from training.baselines import fit_equal_weight, fit_logistic, logistic_risk
from training.calibration import Calibrator, choose_calibrator
from training.lgbm import CalibratedBooster, LGBMParams, raw_score, train_booster
from training.matrix import FeatureSpec, infer_spec, to_matrix
from training.metrics import binary_metrics
from training.outcomes import OutcomeConfig, build_labels
from training.reference_profile import build_reference
from training.scorecard import (
    Scorecard,
    ScorecardConfig,
    backtest,
    exposed_rows,
    learn_scorecard,
    reference_risks,
    score_health,
)

Progress = Callable[[str, float], None]
FOLDS = ("train", "calibration", "test")
ARR = "arr_at_as_of"  # revenue weight for "ARR at risk captured"; never a model input


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on, in one place."""

    outcomes: tuple[str, ...] = ("churn", "renewal", "upsell")
    outcome: OutcomeConfig = field(default_factory=OutcomeConfig)
    lgbm: LGBMParams = field(default_factory=LGBMParams)
    seed: int = 42
    test_dates: int = 3
    calibration_dates: int = 3
    start: date | None = None  # first snapshot date; default: two months after the first signup
    end: date | None = None  # last snapshot date; default: the last one the data settles
    engine: str = "duckdb"
    scorecard: ScorecardConfig = field(default_factory=ScorecardConfig)


@dataclass(frozen=True)
class OutcomeModel:
    """One trained outcome: the booster, its calibrator, and how it did."""

    name: str
    booster: lgb.Booster
    calibrator: Calibrator
    metrics: dict[str, dict[str, float]]  # model / logistic / equal_weight -> metric -> value
    calibration_choice: dict[str, float]
    rows: dict[str, int]  # rows per fold
    test_predictions: pd.DataFrame  # account_id, as_of, y, p, arr (for plots)

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        return CalibratedBooster(self.booster, self.calibrator).predict(x)


@dataclass(frozen=True)
class TrainingResult:
    config: TrainConfig
    spec: FeatureSpec
    models: dict[str, OutcomeModel]
    dates: dict[str, list[pd.Timestamp]]  # fold -> as_of dates
    skipped_signals: tuple[str, ...]
    frame: pd.DataFrame  # features + labels of every snapshot used
    scorecard: Scorecard | None = None  # the health scorecard, learned when churn is an outcome
    reference: dict[str, Any] | None = None  # drift reference profile (training.reference_profile)


def monthly_dates(first: pd.Timestamp, last: pd.Timestamp) -> list[pd.Timestamp]:
    """Month starts (UTC midnight) from ``first`` to ``last`` inclusive."""
    months = pd.date_range(first.tz_convert(None).to_period("M").to_timestamp(), last.tz_convert(None), freq="MS")
    return [d.tz_localize("UTC") for d in months if d.tz_localize("UTC") >= first]


def default_first_date(dataset: Dataset) -> pd.Timestamp:
    """The first as_of whose longest look-back window (90 days) lies inside the activity data.

    Accounts often predate the event history (a CRM export reaches back further than the
    product logs); snapshots before the logs start would see empty windows, not quiet accounts.
    """
    first_signup = dataset.tables["accounts"]["created_at"].min() + pd.DateOffset(months=2)
    starts = [
        frame[spec.time_column].min()
        for spec in TABLE_SPECS.values()
        if spec.name not in ("accounts", "subscriptions", "referrals")  # sparse referrals: a late first one is no gap
        and (frame := dataset.get(spec.name)) is not None
        and spec.time_column in frame
        and frame[spec.time_column].notna().any()
    ]
    activity = (max(starts) + pd.Timedelta(days=90)) if starts else first_signup
    return max(first_signup, activity).ceil("D")


def snapshot_dates(dataset: Dataset, config: TrainConfig) -> list[pd.Timestamp]:
    """Monthly as_of dates whose outcome windows (plus grace) end before the newest data."""
    end = data_end(dataset)
    if end is None:
        raise ValueError("the dataset has no dated rows")
    settle = config.outcome.horizon + (
        config.outcome.grace if config.outcome.churn_definition == "contract" else pd.Timedelta(0)
    )
    first = pd.Timestamp(config.start, tz="UTC") if config.start else default_first_date(dataset)
    last = min(pd.Timestamp(config.end, tz="UTC"), end - settle) if config.end else end - settle
    dates = monthly_dates(first, last)
    needed = config.test_dates + config.calibration_dates + 2
    if len(dates) < needed:
        raise ValueError(
            f"only {len(dates)} monthly snapshot dates between {first:%Y-%m-%d} and {last:%Y-%m-%d} are settled; "
            f"training needs at least {needed} (more history, or a shorter --horizon)"
        )
    return dates


def split_dates(dates: Sequence[pd.Timestamp], config: TrainConfig) -> dict[str, list[pd.Timestamp]]:
    """Earliest dates train, the next ones calibrate (and early-stop), the latest test."""
    ordered = sorted(dates)
    test = ordered[-config.test_dates :]
    calibration = ordered[-(config.test_dates + config.calibration_dates) : -config.test_dates]
    train = ordered[: len(ordered) - config.test_dates - config.calibration_dates]
    return {"train": train, "calibration": calibration, "test": test}


def build_training_frame(
    dataset: Dataset, dates: Sequence[pd.Timestamp], config: TrainConfig, progress: Callable[[str], None] | None = None
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Features for every (account, as_of) joined with the outcome labels and ARR."""
    from features.builders import build_features

    features = build_features(dataset, dates, engine=config.engine, progress=progress)
    labels = build_labels(dataset, features.frame[["account_id", "as_of"]], config.outcomes, config.outcome)
    frame = pd.concat([features.frame.reset_index(drop=True), labels.drop(columns=["account_id", "as_of"])], axis=1)
    return frame, tuple(s.name for s in features.skipped)


def train_outcome(
    name: str, frame: pd.DataFrame, spec: FeatureSpec, folds: dict[str, list[pd.Timestamp]], config: TrainConfig
) -> OutcomeModel:
    """Fit, early-stop, calibrate and test one outcome's model and its two baselines."""
    labelled = frame[frame[name].notna()]
    parts = {f: labelled[labelled["as_of"].isin(folds[f])] for f in FOLDS}
    for fold, part in parts.items():
        if part[name].nunique() < 2:
            raise ValueError(f"outcome {name!r}: the {fold} dates hold only one class ({len(part)} rows)")
    x = {f: to_matrix(p, spec) for f, p in parts.items()}
    y = {f: p[name].to_numpy(dtype=float) for f, p in parts.items()}
    booster = train_booster(x["train"], y["train"], x["calibration"], y["calibration"], config.lgbm, config.seed)
    calibrator, choice = choose_calibrator(raw_score(booster, x["calibration"]), y["calibration"], config.seed)
    p_test = calibrator.predict(raw_score(booster, x["test"]))
    arr = parts["test"][ARR].to_numpy(dtype=float) if parts["test"][ARR].notna().any() else None
    metrics = {"model": binary_metrics(y["test"], p_test, arr)}
    metrics.update(_baselines(x, y, spec, arr, config.seed, name))
    metrics["model"]["best_iteration"] = int(booster.best_iteration)
    predictions = parts["test"][["account_id", "as_of"]].assign(
        y=y["test"], p=p_test, arr=arr if arr is not None else np.nan
    )
    return OutcomeModel(
        name,
        booster,
        calibrator,
        metrics,
        choice,
        {f: len(p) for f, p in parts.items()},
        predictions.reset_index(drop=True),
    )


def _baselines(
    x: dict[str, pd.DataFrame],
    y: dict[str, np.ndarray],
    spec: FeatureSpec,
    arr: np.ndarray | None,
    seed: int,
    outcome: str,
) -> dict[str, dict[str, float]]:
    numeric = {f: m[list(spec.numeric)] for f, m in x.items()}
    out = {}
    lr = fit_logistic(numeric["train"], y["train"], seed)
    cal, _ = choose_calibrator(logistic_risk(lr, numeric["calibration"]), y["calibration"], seed)
    out["logistic"] = binary_metrics(y["test"], cal.predict(logistic_risk(lr, numeric["test"])), arr)
    # The equal-weight score measures health; for churn risk is its opposite, for renewal and
    # upsell (good outcomes) health itself ranks the positives.
    directions = {n: SIGNALS_BY_NAME[n].direction for n in spec.numeric if n in SIGNALS_BY_NAME}
    ew = fit_equal_weight(numeric["train"], directions)
    sign = -1.0 if outcome == "churn" else 1.0
    risk = {f: sign * (ew.health(m) - 50) / 10 for f, m in numeric.items()}
    cal, _ = choose_calibrator(risk["calibration"], y["calibration"], seed)
    out["equal_weight"] = binary_metrics(y["test"], cal.predict(risk["test"]), arr)
    return out


def train(dataset: Dataset, config: TrainConfig = TrainConfig(), progress: Progress | None = None) -> TrainingResult:
    """The whole training run on a dataset; no file I/O (see ``training.artifact``)."""
    report = progress or (lambda step, fraction: None)
    dates = snapshot_dates(dataset, config)
    folds = split_dates(dates, config)
    frame, skipped = build_training_frame(dataset, dates, config, lambda message: report(f"features: {message}", 0.2))
    spec = infer_spec(frame, exclude=(ARR, *config.outcomes))
    models = {}
    for i, name in enumerate(config.outcomes):
        report(f"training {name}", 0.5 + 0.5 * i / len(config.outcomes))
        models[name] = train_outcome(name, frame, spec, folds, config)
    scorecard = None
    if "churn" in models:
        report("health scorecard", 0.95)
        scorecard = train_scorecard(frame, spec, folds, models["churn"], config)
    report("drift reference profile", 0.98)
    rows = frame["as_of"].isin(folds["test"]) & (frame["churn"].notna() if "churn" in models else True)
    reference = reference_profile(frame[rows], spec, models)
    report("done", 1.0)
    return TrainingResult(config, spec, models, folds, skipped, frame, scorecard, reference)


def reference_profile(frame: pd.DataFrame, spec: FeatureSpec, models: dict[str, OutcomeModel]) -> dict[str, Any]:
    """Binned distributions of every model input and of the churn probability, the baseline that
    ``churn drift`` compares a scoring snapshot against.

    ``train`` passes the churn model's test snapshots: the newest population the model was
    validated on (accounts a churn label exists for, the ones scoring ranks), and the only rows
    whose predictions are out of sample, as scoring's are. The oldest training dates would be a
    poorer baseline: the generated world ages (tenure, days-since signals), so they report
    drift on healthy scoring runs.
    """
    x = to_matrix(frame, spec)
    predictions = {"churn_probability": models["churn"].predict(x)} if "churn" in models else {}
    dates = sorted(frame["as_of"].unique())
    source = {"snapshots": len(frame), "as_of": [f"{d:%Y-%m-%d}" for d in dates], "fold": "test"}
    return build_reference(x, spec.categorical, predictions, source)


def train_scorecard(
    frame: pd.DataFrame,
    spec: FeatureSpec,
    folds: dict[str, list[pd.Timestamp]],
    churn: OutcomeModel,
    config: TrainConfig,
) -> Scorecard:
    """Learn the health scorecard from the churn model on its training snapshots and backtest it
    on the churn model's test snapshots, beside the model and the equal-weight score."""
    labelled = frame[frame["churn"].notna()]
    train_rows = labelled[labelled["as_of"].isin(folds["train"])]
    window = {
        "train_from": f"{min(folds['train']):%Y-%m-%d}",
        "train_to": f"{max(folds['train']):%Y-%m-%d}",
        "snapshots": len(train_rows),
        "model": "churn",
        "weights": "share of the churn model's mean |SHAP|, capped",
    }
    card = learn_scorecard(
        to_matrix(train_rows, spec),
        train_rows["churn"].to_numpy(dtype=float),
        churn.booster,
        config.scorecard,
        config.seed,
        {"learned_from": window},
    )
    test = labelled[labelled["as_of"].isin(folds["test"])]  # the churn model's test rows, in its order
    result = backtest(
        score_health(test, card),
        test["churn"].to_numpy(dtype=float),
        {k: churn.metrics[k] for k in ("model", "equal_weight") if k in churn.metrics},
        exposed_rows(test, config.outcome.horizon_days),  # renewal inside the horizon: timing held fixed
        reference_risks(to_matrix(train_rows, spec), to_matrix(test, spec), churn),
    )
    result["test_from"], result["test_to"] = f"{min(folds['test']):%Y-%m-%d}", f"{max(folds['test']):%Y-%m-%d}"
    return Scorecard(
        card.main, card.onboarding, card.bands, card.onboarding_days, card.overrides, {**card.info, "backtest": result}
    )
