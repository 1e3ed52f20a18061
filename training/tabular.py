"""Train a churn model from a table the user already has ("bring your own features").

One row per account: an id column, a binary label, optionally a time column, and any other
columns as features. Text columns become categoricals with levels fixed in the
:class:`~training.model.matrix.FeatureSpec`; numeric-looking text with blanks becomes float with
NaN; ids, constant columns and unique-per-row text are never features.

Validation is repeated stratified K-fold CV, or, with a time column, a time split (fit on the
earliest rows, early-stop and calibrate on the middle ones, test on the latest). Nothing fitted
sees the labels of the rows it is scored on: inside each CV fold the number of boosting rounds
is chosen by early stopping on an inner split of the training fold, and out-of-fold metrics use
calibrators cross-fitted on the other folds. The returned booster is refit on all rows with the
median early-stopped number of rounds; its calibrator is fitted on the out-of-fold raw scores
(CV) or on the middle fold (time split). Pure functions: no file is written.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedKFold

from training.baselines import fit_logistic, logistic_risk
from training.calibration import choose_calibrator
from training.lgbm import LGBMParams, train_booster
from training.metrics import binary_metrics
from training.model.booster import raw_score
from training.model.calibrator import Calibrator
from training.model.matrix import FeatureSpec, to_matrix

# Tuned on Telco (7,043 rows): shallow trees, strong L2, slow learning; about 250-350 rounds.
# One thread: on tables this small OpenMP overhead dominates, and on a busy machine two
# threads were 5-15x slower than one (0.3 s vs 1.6-5 s for 300 rounds on Telco).
SMALL_TABLE_PARAMS = LGBMParams(
    learning_rate=0.03,
    num_leaves=6,
    min_data_in_leaf=50,
    feature_fraction=0.7,
    bagging_fraction=0.8,
    bagging_freq=1,
    lambda_l2=10.0,
    num_boost_round=2000,
    early_stopping_rounds=100,
    num_threads=1,
)
POSITIVE_WORDS = ("1", "true", "yes", "y", "t", "positive", "churn", "churned")
MISSING_WORDS = frozenset({"na", "n/a", "nan", "null", "none", "?"})  # missing, in numeric columns only
Metrics = dict[str, dict[str, float]]
TIME_ORDER = "__time_order__"  # internal sort key of the time split
LEADING_ZERO = re.compile(r"^[+-]?0\d")  # "00123" is a code, not the number 123


@dataclass(frozen=True)
class TabularConfig:
    """Everything a table training run depends on."""

    seed: int = 42
    folds: int = 5
    repeats: int = 3
    params: LGBMParams = SMALL_TABLE_PARAMS
    test_share: float = 0.2  # time split: latest share of rows, for testing
    calibration_share: float = 0.2  # time split: middle share, for early stopping and calibration
    inner_share: float = 0.2  # CV: share of each training fold used for early stopping
    max_levels: int = 200  # text columns with more distinct values are dropped


@dataclass(frozen=True)
class TabularResult:
    """A trained table model, how it was validated, and what was left out and why."""

    spec: FeatureSpec
    booster: lgb.Booster
    calibrator: Calibrator
    metrics: Metrics  # "model" / "logistic" -> metric -> value
    validation: str
    positive: str
    label: str
    id_column: str
    time_column: str | None = None
    num_boost_round: int = 0
    dropped: dict[str, str] = field(default_factory=dict)  # column -> reason
    notes: tuple[str, ...] = ()
    folds: pd.Series | None = None  # time split: id -> "train" / "calibration" / "test"

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of the positive label for each row of a raw table."""
        typed = type_columns(frame, keep_text=(self.id_column,))
        return self.calibrator.predict(raw_score(self.booster, to_matrix(typed, self.spec)))


def _as_number(text: pd.Series) -> pd.Series | None:
    """Floats if every non-blank value is a number (and none is a zero-padded code), else None."""
    marker = text.notna() & text.str.lower().isin(MISSING_WORDS)
    present = text[text.notna() & ~marker]
    if present.empty or present.str.match(LEADING_ZERO).any():
        return None
    if pd.to_numeric(present, errors="coerce").isna().any():
        return None
    return pd.to_numeric(text.where(~marker), errors="coerce").astype("float64")


def type_columns(frame: pd.DataFrame, keep_text: tuple[str, ...] = ()) -> pd.DataFrame:
    """Type each text column: numbers (blanks -> NaN) if all non-blank values parse, else text.

    Whitespace-only cells are blank; booleans become 0/1 floats. ``keep_text`` columns (ids)
    stay text. Returns a new frame; the input is not modified.
    """
    out = {}
    for name in frame.columns:
        col = frame[name]
        if pd.api.types.is_bool_dtype(col):
            out[name] = col.astype("float64")
            continue
        if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_datetime64_any_dtype(col):
            out[name] = col
            continue
        stripped = col.astype("string").str.strip()
        blank = (stripped.isna() | (stripped == "")).to_numpy(dtype=bool)
        text = stripped.astype(object).where(~blank, np.nan)
        number = None if name in keep_text else _as_number(text)
        out[name] = number if number is not None else text
    return pd.DataFrame(out, index=frame.index)


def load_table(path: Path, text_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read a CSV (all cells as text, then typed per column) or Parquet file."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        raw = pd.read_parquet(path)
    elif suffix in (".csv", ".tsv", ".txt"):
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, sep="\t" if suffix == ".tsv" else ",")
    else:
        raise ValueError(f"cannot read {path.name}: expected a .csv, .tsv or .parquet file")
    return type_columns(raw, keep_text=text_columns)


def _canonical(value: object) -> str:
    """One spelling per label value: 1, 1.0 and "1" are all "1"."""
    if isinstance(value, bool | np.bool_):
        return str(bool(value)).lower()
    if isinstance(value, int | float | np.integer | np.floating):
        return f"{float(value):g}"
    text = str(value).strip()
    try:
        return f"{float(text):g}"
    except ValueError:
        return text


def _labels(column: pd.Series, label: str, positive: str | None) -> tuple[np.ndarray, str]:
    values = column.map(_canonical)
    distinct = sorted(values.unique())
    shown = ", ".join(repr(v) for v in distinct[:10])
    if len(distinct) != 2:
        raise ValueError(f"label column {label!r} must have exactly 2 distinct values, found {len(distinct)}: {shown}")
    if positive is None:
        guesses = [v for v in distinct if v.lower() in POSITIVE_WORDS]
        if len(guesses) != 1:
            raise ValueError(f"label column {label!r} has values {shown}: name the positive one (--positive)")
        positive = guesses[0]
    wanted = _canonical(positive)
    matches = [v for v in distinct if v == wanted] or [v for v in distinct if v.lower() == wanted.lower()]
    if not matches:
        raise ValueError(f"positive value {positive!r} is not in label column {label!r}; values: {shown}")
    return (values == matches[0]).to_numpy(dtype=int), matches[0]


def _looks_like_number_id(col: pd.Series) -> bool:
    """No blanks, all whole numbers, all different, over at least 50 rows: a CRM or row number."""
    values = col.to_numpy(dtype=float)
    return (
        len(values) >= 50
        and not np.isnan(values).any()
        and bool(np.all(values == np.round(values)))
        and len(np.unique(values)) == len(values)
    )


def _feature_spec(typed: pd.DataFrame, exclude: tuple[str, ...], max_levels: int) -> tuple[FeatureSpec, dict[str, str]]:
    """Feature columns and their types; the rest with the reason each is left out.

    Only the column values are read, never the label, so this may run on the whole table.
    """
    numeric, categorical, dropped = [], {}, {}
    for name in typed.columns:
        if name in exclude:
            continue
        col = typed[name]
        distinct = col.dropna().nunique()
        if pd.api.types.is_datetime64_any_dtype(col):
            dropped[name] = "date column: give it as the time column or derive numbers from it"
        elif distinct <= 1:
            dropped[name] = "constant" if distinct == 1 else "always blank"
        elif pd.api.types.is_numeric_dtype(col) and _looks_like_number_id(col):
            dropped[name] = "whole numbers unique per row (looks like an id)"
        elif pd.api.types.is_numeric_dtype(col):
            numeric.append(name)
        elif distinct == col.notna().sum():
            dropped[name] = "text unique per row (an id or free text)"
        elif distinct > max_levels:
            dropped[name] = f"text with {distinct} distinct values (more than {max_levels})"
        else:
            categorical[name] = tuple(sorted(str(v) for v in col.dropna().unique()))
    return FeatureSpec(tuple(numeric), categorical), dropped


def _one_hot(x: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """Numeric columns plus one 0/1 column per category level, for the logistic baseline."""
    parts = {name: x[name] for name in spec.numeric}
    for name, levels in spec.categorical.items():
        for level in levels:
            parts[f"{name}={level}"] = (x[name] == level).astype("float64")
    return pd.DataFrame(parts, index=x.index)


def _refit(x: pd.DataFrame, y: np.ndarray, params: LGBMParams, seed: int, rounds: int) -> lgb.Booster:
    data = lgb.Dataset(x, label=y, free_raw_data=False)
    return lgb.train(params.booster_params(seed), data, num_boost_round=max(rounds, 1))


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    return float(roc_auc_score(y, s)) if len(np.unique(y)) == 2 else float("nan")


def _summarise(y: np.ndarray, raw: np.ndarray, folds: np.ndarray, seed: int) -> dict[str, float]:
    """Metrics of one repeat: each fold calibrated by a calibrator fitted on the other folds."""
    p = np.empty(len(y))
    for k in np.unique(folds):
        held = folds == k
        cal, _ = choose_calibrator(raw[~held], y[~held], seed=seed)
        p[held] = cal.predict(raw[held])
    return binary_metrics(y, p)


def _cross_validate(
    x: pd.DataFrame, y: np.ndarray, spec: FeatureSpec, config: TabularConfig
) -> tuple[Metrics, Calibrator, int, str]:
    """Out-of-fold scores of the model and the logistic baseline; rounds early-stopped per fold."""
    cv = RepeatedStratifiedKFold(n_splits=config.folds, n_repeats=config.repeats, random_state=config.seed)
    n_inner = max(2, round(1 / config.inner_share))
    raw = {m: np.zeros((config.repeats, len(y))) for m in ("model", "logistic")}
    fold_of = np.zeros((config.repeats, len(y)), dtype=int)
    aucs: dict[str, list[float]] = {"model": [], "logistic": []}
    rounds = []
    design = _one_hot(x, spec)
    for i, (train, held) in enumerate(cv.split(x, y)):
        repeat, fold = divmod(i, config.folds)
        inner = StratifiedKFold(n_splits=n_inner, shuffle=True, random_state=config.seed + i)
        fit, stop = next(inner.split(train, y[train]))
        fit, stop = train[fit], train[stop]
        stopped = train_booster(x.iloc[fit], y[fit], x.iloc[stop], y[stop], config.params, config.seed)
        rounds.append(stopped.best_iteration or stopped.current_iteration())
        booster = _refit(x.iloc[train], y[train], config.params, config.seed, rounds[-1])
        raw["model"][repeat, held] = booster.predict(x.iloc[held], raw_score=True)
        logistic = fit_logistic(design.iloc[train], y[train], config.seed)
        raw["logistic"][repeat, held] = logistic_risk(logistic, design.iloc[held])
        fold_of[repeat, held] = fold
        for m in aucs:
            aucs[m].append(_auc(y[held], raw[m][repeat, held]))
    metrics = {}
    for m in raw:
        per_repeat = [_summarise(y, raw[m][r], fold_of[r], config.seed) for r in range(config.repeats)]
        summary = {k: float(np.mean([d[k] for d in per_repeat])) for k in per_repeat[0]}
        summary["n"] = len(y)
        summary["roc_auc_pooled"] = summary["roc_auc"]
        summary["roc_auc"] = float(np.mean(aucs[m]))  # mean over folds: the usual "CV ROC-AUC"
        summary["roc_auc_std"] = float(np.std(aucs[m]))
        metrics[m] = summary
    calibrator, _ = choose_calibrator(raw["model"].ravel(), np.tile(y, config.repeats), seed=config.seed)
    validation = f"repeated stratified {config.folds}-fold CV ({config.repeats} repeats)"
    return metrics, calibrator, int(np.median(rounds)), validation


def _time_folds(t: np.ndarray, config: TabularConfig) -> np.ndarray:
    """Fold names by time; rows tied with a boundary go to the later fold. ``t`` is sorted."""
    n = len(t)
    n_test, n_cal = math.ceil(n * config.test_share), math.ceil(n * config.calibration_share)
    if n_test + n_cal >= n:
        raise ValueError(f"a time split needs more rows than {n}: test and calibration shares leave none to fit")
    folds = np.full(n, "train", dtype=object)
    folds[t >= t[n - n_test - n_cal]] = "calibration"
    folds[t >= t[n - n_test]] = "test"
    return folds


def _time_split(
    x: pd.DataFrame,
    y: np.ndarray,
    t: np.ndarray,
    spec: FeatureSpec,
    time_column: str,
    config: TabularConfig,
) -> tuple[Metrics, Calibrator, int, str, np.ndarray]:
    """Fit on the earliest rows, early-stop and calibrate on the middle, test on the latest."""
    folds = _time_folds(t, config)
    parts = {f: folds == f for f in ("train", "calibration", "test")}
    for f, mask in parts.items():
        if len(np.unique(y[mask])) < 2:
            raise ValueError(f"time split on {time_column!r}: the {f} rows ({mask.sum()}) hold only one label class")
    tr, ca, te = parts["train"], parts["calibration"], parts["test"]
    booster = train_booster(x[tr], y[tr], x[ca], y[ca], config.params, config.seed)
    calibrator, _ = choose_calibrator(raw_score(booster, x[ca]), y[ca], seed=config.seed)
    metrics = {"model": binary_metrics(y[te], calibrator.predict(raw_score(booster, x[te])))}
    design = _one_hot(x, spec)
    logistic = fit_logistic(design[tr], y[tr], config.seed)
    log_cal, _ = choose_calibrator(logistic_risk(logistic, design[ca]), y[ca], seed=config.seed)
    metrics["logistic"] = binary_metrics(y[te], log_cal.predict(logistic_risk(logistic, design[te])))
    rounds = booster.best_iteration or booster.current_iteration()
    return metrics, calibrator, rounds, f"time split on {time_column}", folds


def _time_values(column: pd.Series, name: str) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(column):
        values = column.to_numpy(dtype=float)
    else:
        parsed = pd.to_datetime(column, utc=True, errors="coerce", format="mixed")
        values = (parsed - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(dtype=float)
    if np.isnan(values).any():
        raise ValueError(f"time column {name!r} has {int(np.isnan(values).sum())} blank or unparseable values")
    return values


def train_table(
    frame: pd.DataFrame,
    id_column: str,
    label: str,
    positive: str | None = None,
    time_column: str | None = None,
    config: TabularConfig = TabularConfig(),  # noqa: B008
) -> TabularResult:
    """Validate, then fit a calibrated LightGBM model on a one-row-per-account table.

    Raises ValueError (one line) for a missing id/label/time column, duplicate or blank ids,
    a label without exactly two values or with an unknown positive value, and too few rows
    of a class for the folds.
    """
    wanted = {"id": id_column, "label": label} | ({"time": time_column} if time_column else {})
    for role, name in wanted.items():
        if name not in frame.columns:
            available = ", ".join(map(str, frame.columns))
            raise ValueError(f"{role} column {name!r} not in table; available: {available}")
    typed = type_columns(frame, keep_text=(id_column,))
    notes = []
    unlabelled = typed[label].isna()
    if unlabelled.any():
        notes.append(f"{int(unlabelled.sum())} rows with a blank label left out")
        typed = typed[~unlabelled]
    ids = typed[id_column]
    if ids.isna().any():
        raise ValueError(f"id column {id_column!r} has {int(ids.isna().sum())} blank values")
    if ids.duplicated().any():
        dupes = ids[ids.duplicated()].unique()[:3]
        raise ValueError(f"id column {id_column!r} repeats {', '.join(map(repr, dupes))}: one row per account needed")
    keys = [id_column]
    if time_column:
        typed = typed.assign(**{TIME_ORDER: _time_values(typed[time_column], time_column)})
        keys = [TIME_ORDER, id_column]
    typed = typed.sort_values(keys, kind="stable").reset_index(drop=True)  # row-order invariant
    y, positive_value = _labels(typed[label], label, positive)
    counts = np.bincount(y, minlength=2)
    if not time_column and counts.min() < config.folds:
        values = typed[label].map(_canonical)
        rare = positive_value if counts[1] < counts[0] else values[y == 0].iloc[0]
        raise ValueError(
            f"label {label!r} has only {counts.min()} rows of class {rare!r}; "
            f"{config.folds}-fold CV needs at least {config.folds} per class"
        )
    exclude = tuple(c for c in (id_column, label, time_column, TIME_ORDER) if c)
    spec, dropped = _feature_spec(typed, exclude, config.max_levels)
    if not spec.names:
        raise ValueError(f"no feature columns left in the table (dropped: {', '.join(dropped) or 'none'})")
    notes += [f"dropped {name!r}: {why}" for name, why in dropped.items()]
    x = to_matrix(typed, spec)
    folds = None
    if time_column:
        metrics, calibrator, rounds, validation, fold_names = _time_split(
            x, y, typed[TIME_ORDER].to_numpy(), spec, time_column, config
        )
        folds = pd.Series(fold_names, index=typed[id_column].to_numpy(), name="fold")
    else:
        metrics, calibrator, rounds, validation = _cross_validate(x, y, spec, config)
    booster = _refit(x, y, config.params, config.seed, rounds)
    return TabularResult(
        spec=spec,
        booster=booster,
        calibrator=calibrator,
        metrics=metrics,
        validation=validation,
        positive=positive_value,
        label=label,
        id_column=id_column,
        time_column=time_column,
        num_boost_round=rounds,
        dropped=dropped,
        notes=tuple(notes),
        folds=folds,
    )
