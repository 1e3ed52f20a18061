"""Train churn, renewal and upsell models with a rolling-origin backtest, then refit on everything.

The flow: snapshot dates at a cadence that fits the history (``training.backtest``) whose outcome
windows the data settles -> point-in-time features (``features.builders``) -> labels
(``training.outcomes``) -> a rolling-origin backtest (expanding window, a few cut-offs, a gap of
one horizon between each fold's training labels and its test dates) -> per outcome: the number of
trees (early stopping on held-out accounts inside each fold's training dates) and the calibrator
(fitted on the folds' held-out scores, cross-fitted over the folds for the reported metrics) ->
the served model, refitted on every settled snapshot with that number of trees. Test metrics come
only from the held-out folds. There is no random split of dates anywhere in this path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.builders import build_features
from features.builders_vocab import resolve_vocabulary
from features.config import FeatureConfig
from features.contract import TABLE_SPECS
from features.loader import Dataset
from features.validation import data_end
from training.backtest import (
    AUTO_ORDER,
    CADENCES,
    Fold,
    account_halves,
    cadence_dates,
    check_cadence,
    dates_needed,
    history_needed,
    plan_folds,
)
from training.baselines import equal_weight_health, fit_logistic, logistic_risk
from training.calibration import choose_calibrator
from training.lgbm import LGBMParams, train_booster
from training.linear_start import fit_linear_start
from training.metrics import binary_metrics
from training.model.booster import CalibratedBooster, raw_score
from training.model.calibrator import Calibrator
from training.model.matrix import FeatureSpec, exact_float32, infer_spec, to_matrix
from training.outcomes import OutcomeConfig, build_labels
from training.reference_profile import build_reference
from training.scorecard import (
    Scorecard,
    ScorecardConfig,
    backtest,
    exposed_rows,
    learn_scorecard,
    score_health,
)
from training.scorecard_backtest import equal_weight_risk, health_risk, ranking_metrics

Progress = Callable[[str, float], None]
FOLDS = ("train", "calibration", "test")
FAMILIES = ("model", "logistic", "equal_weight")
ARR = "arr_at_as_of"  # revenue weight for "ARR at risk captured"; never a model input
STOP_SHARE = 0.2  # share of accounts whose training snapshots early-stop the newest fold's booster
CADENCE_WORDS = {"1M": "monthly", "2W": "two-weekly", "1W": "weekly", "7D": "weekly"}
# Each --linear-start choice and the starts it tries; auto keeps whichever early-stops to the lower
# held-out log loss, and the first one tried is the fallback when there is too little to early-stop.
LINEAR_STARTS = {"auto": (False, True), "on": (True,), "off": (False,)}


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on, in one place."""

    outcomes: tuple[str, ...] = ("churn", "renewal", "upsell")
    outcome: OutcomeConfig = field(default_factory=OutcomeConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)  # key events, windows, engagement
    lgbm: LGBMParams = field(default_factory=LGBMParams)
    seed: int = 42
    folds: int = 3  # backtest cut-offs; fewer when the history is short
    every: str = "auto"  # snapshot cadence: auto, 1M, 2W, 1W or 7D
    start: date | None = None  # first snapshot date; default: when the activity data covers 90 days
    end: date | None = None  # last snapshot date; default: the last one the data settles
    engine: str = "duckdb"
    scorecard: ScorecardConfig = field(default_factory=ScorecardConfig)
    linear_start: str = "auto"  # boost from a linear start (training.linear_start): auto, on or off

    def __post_init__(self) -> None:
        check_cadence(self.every)
        if self.linear_start not in LINEAR_STARTS:
            raise ValueError(f"TrainConfig.linear_start takes {', '.join(LINEAR_STARTS)}, not {self.linear_start!r}")
        if self.folds < 1:
            raise ValueError(f"TrainConfig.folds must be at least 1, got {self.folds}")


@dataclass(frozen=True)
class OutcomeModel:
    """One trained outcome: the served booster, its calibrator, and how the backtest rated it."""

    name: str
    booster: lgb.Booster  # refitted on every settled snapshot
    calibrator: Calibrator
    metrics: dict[str, dict[str, float]]  # model / logistic / equal_weight -> metric -> mean over the folds
    calibration_choice: dict[str, float]
    rows: dict[str, int]  # train (the refit), calibration and test (held-out fold rows)
    test_predictions: pd.DataFrame  # account_id, as_of, fold, y, p, arr: every held-out fold row
    folds: tuple[dict[str, Any], ...] = ()  # per fold: dates, rows, best iteration, metrics per family
    fold_boosters: tuple[lgb.Booster, ...] = ()  # per entry of ``folds``: its booster, trained before its test dates

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        return CalibratedBooster(self.booster, self.calibrator).predict(x)


@dataclass(frozen=True)
class TrainingResult:
    config: TrainConfig
    spec: FeatureSpec
    models: dict[str, OutcomeModel]
    dates: dict[str, list[pd.Timestamp]]  # train (served model), calibration and test (held-out folds)
    skipped_signals: tuple[str, ...]
    frame: pd.DataFrame  # features + labels of every snapshot used
    scorecard: Scorecard | None = None  # the health scorecard, learned when churn is an outcome
    reference: dict[str, Any] | None = None  # drift reference profile (training.reference_profile)
    backtest: tuple[Fold, ...] = ()
    every: str = "1M"  # the cadence used


def default_first_date(dataset: Dataset) -> pd.Timestamp:
    """The first as_of whose longest look-back window (90 days) lies inside the activity data.

    Accounts often predate the event history (a CRM export reaches back further than the
    product logs); snapshots before the logs start would see empty windows, not quiet accounts.
    """
    first_signup = dataset.time_bounds("accounts", "created_at")[0] + pd.DateOffset(months=2)
    starts = [
        first
        for spec in TABLE_SPECS.values()
        if spec.name not in ("accounts", "subscriptions", "referrals")  # sparse referrals: a late first one is no gap
        and spec.time_column is not None
        and (first := dataset.time_bounds(spec.name, spec.time_column)[0]) is not None
    ]
    activity = (max(starts) + pd.Timedelta(days=90)) if starts else first_signup
    return max(first_signup, activity).ceil("D")


def settle_time(config: TrainConfig) -> pd.Timedelta:
    """How long after as_of a label is known: the horizon, plus grace for contract outcomes."""
    grace = config.outcome.grace if config.outcome.churn_definition == "contract" else pd.Timedelta(0)
    return config.outcome.horizon + grace


def plan(dataset: Dataset, config: TrainConfig) -> tuple[str, list[pd.Timestamp], list[Fold]]:
    """The cadence, the settled snapshot dates and the backtest folds of a run.

    ``auto`` takes the coarsest cadence that gives every fold (monthly, else two-weekly, else
    weekly); when none does, the one with the most folds. A history too short for a single fold
    is refused with how much it needs.
    """
    end = data_end(dataset)
    if end is None:
        raise ValueError("the dataset has no dated rows")
    settle = settle_time(config)
    gap = config.outcome.horizon  # between a fold's training dates and its first test date
    first = pd.Timestamp(config.start, tz="UTC") if config.start else default_first_date(dataset)
    last = min(pd.Timestamp(config.end, tz="UTC"), end - settle) if config.end else end - settle
    options = AUTO_ORDER if config.every == "auto" else (config.every,)
    tried = []
    for every in options:
        dates = cadence_dates(first, last, every)
        folds = plan_folds(dates, CADENCES[every], gap, config.folds)
        tried.append((every, dates, folds))
        if len(folds) == config.folds:
            return every, dates, folds
    every, dates, folds = max(tried, key=lambda t: len(t[2]))  # max keeps the first (coarsest) on ties
    if folds:
        return every, dates, folds
    found = ", ".join(f"{len(d)} {CADENCE_WORDS[e]}" for e, d, _ in tried)
    need = " or ".join(f"{dates_needed(CADENCES[e], gap, 1)} {CADENCE_WORDS[e]}" for e, _, _ in tried)
    finest = tried[-1][0]
    raise ValueError(
        f"only {found} snapshot dates between {first:%Y-%m-%d} and {last:%Y-%m-%d} are settled; "
        f"training needs at least {need} ({history_needed(CADENCES[finest], gap)}, then {settle.days} days "
        "for the newest labels to settle; more history, or a shorter --horizon)"
    )


def snapshot_dates(dataset: Dataset, config: TrainConfig) -> list[pd.Timestamp]:
    """The settled as_of dates at the run's cadence (see :func:`plan`)."""
    return plan(dataset, config)[1]


def split_dates(dates: Sequence[pd.Timestamp], config: TrainConfig, every: str = "1M") -> list[Fold]:
    """The backtest folds over ``dates`` (order of ``dates`` does not matter)."""
    return plan_folds(sorted(dates), CADENCES[every], config.outcome.horizon, config.folds)


def build_training_frame(
    dataset: Dataset, dates: Sequence[pd.Timestamp], config: TrainConfig, progress: Callable[[str], None] | None = None
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Features for every (account, as_of) joined with the outcome labels and ARR."""
    features = build_features(dataset, dates, engine=config.engine, config=config.features, progress=progress)
    labels = build_labels(
        dataset, features.frame[["account_id", "as_of"]], config.outcomes, config.outcome, engine=config.engine
    )
    signals = exact_float32(features.frame.reset_index(drop=True), features.signal_names)
    frame = pd.concat([signals, labels.drop(columns=["account_id", "as_of"])], axis=1)
    return frame, tuple(s.name for s in features.skipped)


@dataclass(frozen=True)
class Trees:
    """How an outcome's boosters grow: how many boosted trees, and whether from the linear start."""

    rounds: int
    linear_start: bool


def choose_trees(name: str, train_rows: pd.DataFrame, spec: FeatureSpec, config: TrainConfig) -> Trees:
    """The number of trees and the start: early stopping on the newest fold's training dates,
    holding out a share of the accounts (all their snapshots), so no account is on both sides.

    With ``linear_start="auto"`` both starts are early-stopped and the lower held-out log loss wins
    (a tie keeps trees alone).
    """
    x = to_matrix(train_rows, spec)
    y = train_rows[name].to_numpy(dtype=float)
    stop = account_halves(train_rows["account_id"], STOP_SHARE, salt=config.seed)
    if len(np.unique(y[stop])) < 2 or len(np.unique(y[~stop])) < 2:
        stop = account_halves(train_rows["account_id"], 0.5, salt=config.seed)
    if len(np.unique(y[stop])) < 2 or len(np.unique(y[~stop])) < 2:
        # Too few positives to early-stop: a short, safe model.
        return Trees(config.lgbm.early_stopping_rounds, LINEAR_STARTS[config.linear_start][0])
    tried = []
    for linear in LINEAR_STARTS[config.linear_start]:
        start = (
            fit_linear_start(x[~stop], y[~stop], spec.numeric, config.seed, config.lgbm.num_threads) if linear else None
        )
        booster = train_booster(x[~stop], y[~stop], x[stop], y[stop], config.lgbm, config.seed, start)
        before = start.current_iteration() if start is not None else 0
        rounds = max(1, int(booster.best_iteration or booster.current_iteration()) - before)
        tried.append((float(booster.best_score["valid_0"]["binary_logloss"]), linear, rounds))
    _, linear, rounds = min(tried)
    return Trees(rounds, linear)


def _fold_scores(
    name: str, train_rows: pd.DataFrame, test_rows: pd.DataFrame, spec: FeatureSpec, config: TrainConfig, trees: Trees
) -> tuple[dict[str, np.ndarray], lgb.Booster]:
    """Raw (uncalibrated) scores of the model and both baselines on a fold's test rows, each fitted
    on every training row of the fold (the booster grown as ``trees`` says)."""
    x_train, x_test = to_matrix(train_rows, spec), to_matrix(test_rows, spec)
    y_train = train_rows[name].to_numpy(dtype=float)
    booster = refit(train_rows, name, spec, config, trees)
    numeric = list(spec.numeric)
    lr = fit_logistic(x_train[numeric], y_train, config.seed)
    # The equal-weight score measures health; for churn risk is its opposite, for renewal and
    # upsell (good outcomes) health itself ranks the positives.
    sign = -1.0 if name == "churn" else 1.0
    scores = {
        "model": raw_score(booster, x_test),
        "logistic": logistic_risk(lr, x_test[numeric]),
        "equal_weight": sign * (equal_weight_health(x_train, x_test) - 50) / 10,
    }
    return scores, booster


def _cross_fitted(raw: list[np.ndarray], y: list[np.ndarray], ids: list[pd.Series], seed: int) -> list[np.ndarray]:
    """Calibrated probabilities per fold, each from a calibrator fitted on the other folds' scores.

    With a single fold, its accounts are split in two halves, each calibrated on the other.
    """
    if len(raw) == 1:
        half = account_halves(ids[0], 0.5, salt=seed + 1)
        p = np.empty(len(y[0]))
        for side in (half, ~half):
            other = ~side
            if len(np.unique(y[0][other])) < 2:
                other = np.ones(len(side), dtype=bool)
            cal, _ = choose_calibrator(raw[0][other], y[0][other], seed)
            p[side] = cal.predict(raw[0][side])
        return [p]
    out = []
    for k in range(len(raw)):
        rest_raw = np.concatenate([r for j, r in enumerate(raw) if j != k])
        rest_y = np.concatenate([t for j, t in enumerate(y) if j != k])
        cal, _ = choose_calibrator(rest_raw, rest_y, seed)
        out.append(cal.predict(raw[k]))
    return out


def _mean_metrics(per_fold: list[dict[str, float]]) -> dict[str, float]:
    """Each metric's mean over the folds (``n``: their total)."""
    out = {}
    for key in per_fold[0]:
        values = [f[key] for f in per_fold]
        out[key] = float(sum(values)) if key == "n" else float(np.nanmean(values))
    return out


def train_outcome(
    name: str, frame: pd.DataFrame, spec: FeatureSpec, folds: Sequence[Fold], config: TrainConfig
) -> OutcomeModel:
    """Backtest one outcome over the folds, choose trees and calibrator, refit on every snapshot."""
    labelled = frame[frame[name].notna()]
    usable = [
        f
        for f in folds
        if labelled.loc[labelled["as_of"].isin(f.train), name].nunique() == 2
        and labelled.loc[labelled["as_of"].isin(f.test), name].nunique() == 2
    ]
    if not usable:
        raise ValueError(
            f"outcome {name!r}: no backtest fold holds both classes in its training and test dates "
            f"({len(labelled)} labelled snapshots)"
        )
    trees = choose_trees(name, labelled[labelled["as_of"].isin(usable[-1].train)], spec, config)
    kept, raw, ys, ids, tests, boosters = [], [], [], [], [], []
    for fold in usable:
        train_rows = labelled[labelled["as_of"].isin(fold.train)]
        test_rows = labelled[labelled["as_of"].isin(fold.test)]
        scores, booster = _fold_scores(name, train_rows, test_rows, spec, config, trees)
        kept.append(fold)
        raw.append(scores)
        ys.append(test_rows[name].to_numpy(dtype=float))
        ids.append(test_rows["account_id"])
        tests.append(test_rows)
        boosters.append(booster)
    probs = {f: _cross_fitted([r[f] for r in raw], ys, ids, config.seed) for f in FAMILIES}
    per_fold: list[dict[str, Any]] = []
    for k, (fold, test_rows) in enumerate(zip(kept, tests, strict=True)):
        arr = test_rows[ARR].to_numpy(dtype=float) if test_rows[ARR].notna().any() else None
        per_fold.append(
            {
                **fold.describe(),
                "rows_train": int(labelled["as_of"].isin(fold.train).sum()),
                "rows_test": len(test_rows),
                "trees": trees.rounds,
                **{f: binary_metrics(ys[k], probs[f][k], arr) for f in FAMILIES},
            }
        )
    metrics = {f: _mean_metrics([p[f] for p in per_fold]) for f in FAMILIES}
    metrics["model"]["best_iteration"] = trees.rounds
    metrics["model"]["linear_start"] = float(trees.linear_start)
    calibrator, choice = choose_calibrator(np.concatenate([r["model"] for r in raw]), np.concatenate(ys), config.seed)
    booster = refit(labelled, name, spec, config, trees)
    test_all = pd.concat(tests, ignore_index=True)
    arr_all = test_all[ARR].to_numpy(dtype=float)
    predictions = test_all[["account_id", "as_of"]].assign(
        fold=np.concatenate([[f.index] * len(t) for f, t in zip(kept, tests, strict=True)]),
        y=np.concatenate(ys),
        p=np.concatenate(probs["model"]),
        arr=arr_all if np.isfinite(arr_all).any() else np.nan,
    )
    rows = {"train": len(labelled), "calibration": len(test_all), "test": len(test_all)}
    return OutcomeModel(
        name,
        booster,
        calibrator,
        metrics,
        choice,
        rows,
        predictions.reset_index(drop=True),
        tuple(per_fold),
        tuple(boosters),
    )


def refit(labelled: pd.DataFrame, name: str, spec: FeatureSpec, config: TrainConfig, trees: Trees) -> lgb.Booster:
    """The served booster: every settled snapshot of the outcome, grown as ``trees`` says, no early
    stopping; the linear start, when used, is fitted on the same rows."""
    x, y = to_matrix(labelled, spec), labelled[name].to_numpy(dtype=float)
    start = fit_linear_start(x, y, spec.numeric, config.seed, config.lgbm.num_threads) if trees.linear_start else None
    data = lgb.Dataset(x, label=y, free_raw_data=False)
    return lgb.train(config.lgbm.booster_params(config.seed), data, num_boost_round=trees.rounds, init_model=start)


def train(dataset: Dataset, config: TrainConfig = TrainConfig(), progress: Progress | None = None) -> TrainingResult:
    """The whole training run on a dataset; no file I/O (see ``training.artifact``)."""
    report = progress or (lambda step, fraction: None)
    every, dates, folds = plan(dataset, config)
    # The event vocabulary is chosen once, on the data before the newest snapshot, and saved with the model.
    config = replace(config, features=resolve_vocabulary(dataset, config.features, max(dates)))
    frame, skipped = build_training_frame(dataset, dates, config, lambda message: report(f"features: {message}", 0.2))
    spec = infer_spec(frame, exclude=(ARR, *config.outcomes))
    models = {}
    for i, name in enumerate(config.outcomes):
        report(f"training {name}", 0.5 + 0.5 * i / len(config.outcomes))
        models[name] = train_outcome(name, frame, spec, folds, config)
    tested = sorted({d for f in folds for d in f.test})
    split = {"train": list(dates), "calibration": tested, "test": tested}
    scorecard = None
    if "churn" in models:
        report("health scorecard", 0.95)
        scorecard = train_scorecard(frame, spec, folds, models["churn"], config)
    report("drift reference profile", 0.98)
    rows = frame["as_of"].isin(tested) & (frame["churn"].notna() if "churn" in models else True)
    reference = reference_profile(frame[rows], spec, models)
    report("done", 1.0)
    return TrainingResult(config, spec, models, split, skipped, frame, scorecard, reference, tuple(folds), every)


def reference_profile(frame: pd.DataFrame, spec: FeatureSpec, models: dict[str, OutcomeModel]) -> dict[str, Any]:
    """Binned distributions of every model input and of the churn probability, the baseline that
    ``churn drift`` compares a scoring snapshot against.

    ``train`` passes the held-out fold snapshots of the churn model: the newest population the
    backtest validated on (accounts a churn label exists for, the ones scoring ranks). The oldest
    training dates would be a poorer baseline: the generated world ages (tenure, days-since
    signals), so they report drift on healthy scoring runs. The churn probabilities are the served
    model's (``models["churn"]``, refit on every settled snapshot) on these rows, because drift
    compares them with that model's scores; the backtest's fold models are other models, and their
    out-of-sample probabilities read as drift (PSI 0.35) on an unchanged later snapshot.
    """
    x = to_matrix(frame, spec)
    predictions = {"churn_probability": models["churn"].predict(x)} if "churn" in models else {}
    dates = sorted(frame["as_of"].unique())
    source = {"snapshots": len(frame), "as_of": [f"{d:%Y-%m-%d}" for d in dates], "fold": "test"}
    return build_reference(x, spec.categorical, predictions, source)


def train_scorecard(
    frame: pd.DataFrame,
    spec: FeatureSpec,
    folds: Sequence[Fold],
    churn: OutcomeModel,
    config: TrainConfig,
) -> Scorecard:
    """The served health scorecard and its rolling backtest.

    The served card is learned from the served churn booster (refit on every settled snapshot)
    on every settled snapshot. Its quality is measured the way the model's is: per backtest fold,
    a card is learned the same way from that fold's booster on that fold's training snapshots and
    scores that fold's test snapshots; the held-out rows of all folds are pooled and compared with
    the model's held-out probabilities (``churn.test_predictions``) and the equal-weight score
    fitted on each fold's training snapshots. No fold's card sees the dates that test it.
    """
    labelled = frame[frame["churn"].notna()]

    def learn(rows: pd.DataFrame, booster: lgb.Booster, info: dict[str, Any] | None = None) -> Scorecard:
        x = to_matrix(rows, spec)
        return learn_scorecard(x, rows["churn"].to_numpy(dtype=float), booster, config.scorecard, config.seed, info)

    window = {
        "train_from": f"{labelled['as_of'].min():%Y-%m-%d}",
        "train_to": f"{labelled['as_of'].max():%Y-%m-%d}",
        "snapshots": len(labelled),
        "model": "churn (the served booster, refit on every settled snapshot)",
        "weights": "share of the churn model's mean |SHAP|, capped",
    }
    card = learn(labelled, churn.booster, {"learned_from": window})
    by_index = {f.index: f for f in folds}
    scores, tests, equal, per_fold = [], [], [], []
    for described, booster in zip(churn.folds, churn.fold_boosters, strict=True):
        fold = by_index[described["fold"]]
        train_rows = labelled[labelled["as_of"].isin(fold.train)]
        test_rows = labelled[labelled["as_of"].isin(fold.test)]
        fold_scores = score_health(test_rows, learn(train_rows, booster))
        scores.append(fold_scores)
        tests.append(test_rows)
        equal.append(equal_weight_risk(to_matrix(train_rows, spec), to_matrix(test_rows, spec)))
        y_fold = test_rows["churn"].to_numpy(dtype=float)
        per_fold.append(
            {
                **fold.describe(),
                "n": len(test_rows),
                "scorecard": ranking_metrics(y_fold, health_risk(fold_scores)),
            }
        )
    test = pd.concat(tests)
    held = churn.test_predictions[["account_id", "as_of", "p"]]
    model_p = test[["account_id", "as_of"]].merge(held, on=["account_id", "as_of"], how="left", validate="1:1")["p"]
    y = test["churn"].to_numpy(dtype=float)
    risks = {"model": model_p.to_numpy(dtype=float), "equal_weight": np.concatenate(equal)}
    result = backtest(
        pd.concat(scores),
        y,
        {name: ranking_metrics(y, risk) for name, risk in risks.items()},
        exposed_rows(test, config.outcome.horizon_days),  # renewal inside the horizon: timing held fixed
        risks,
    )
    result["test_from"], result["test_to"] = f"{test['as_of'].min():%Y-%m-%d}", f"{test['as_of'].max():%Y-%m-%d}"
    result["folds"] = per_fold
    return replace(card, info={**card.info, "backtest": result})
