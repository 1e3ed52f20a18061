"""Batch scoring: probabilities, health score and explained flags for every eligible account.

:class:`Scorer` wraps one verified model folder and turns a signal frame (one row per
account and as_of, as :func:`features.builders.build_features` returns) into the scores
frame of DESIGN.md section 7. The same call serves the batch job, the Spark path and the
API, so a score is the same number wherever it is computed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from features.errors import DataError, Problem
from features.loader import STRING_DTYPE, TIMESTAMP_DTYPE, Dataset
from serving.flags import FlagConfig, contributions, flags
from training.artifact import ModelBundle, load_model_folder
from training.matrix import to_matrix
from training.outcomes import OutcomeConfig, eligible
from training.scorecard import score_health

OUTCOMES = ("churn", "renewal", "upsell")
CONTEXT_COLUMNS = ("segment", "csm_owner")  # from the accounts table, for filtering risk lists
SCORE_COLUMNS = (
    "account_id", "as_of", "segment", "csm_owner",
    "churn_probability", "renewal_probability", "upsell_probability",
    "health_score", "health_band", "health_trend", "onboarding",
    "arr", "arr_at_risk", "red_flags", "green_flags", "model_version", "scored_at",
)
FLAG_COLUMNS = ("red_flags", "green_flags")

Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class Scorer:
    """One loaded, checksum-verified model folder, ready to score signal frames."""

    bundle: ModelBundle
    flag_config: FlagConfig = field(default_factory=FlagConfig)

    @classmethod
    def load(cls, path: Path | str) -> Scorer:
        return cls(load_model_folder(Path(path)))

    @property
    def version(self) -> str:
        return self.bundle.version

    @property
    def signals(self) -> list[str]:
        """The signal columns the models read, in the models' order."""
        return self.bundle.spec.names

    @property
    def outcome_config(self) -> OutcomeConfig:
        return OutcomeConfig(**self.bundle.features.get("config", {}).get("outcome", {}))

    def score(
        self, features: pd.DataFrame, *, lang: str = "en", top_k: int | None = None,
        scored_at: pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        """Score a signal frame; one output row per input row, in the same order.

        ``features`` needs ``account_id``, ``as_of`` and the model's signal columns (a missing
        signal column is an error; a missing value is fine). ``segment``, ``csm_owner`` and
        ``arr`` are carried through when present.
        """
        config = self.flag_config if top_k is None else FlagConfig(top_k=top_k)
        missing = [c for c in ("account_id", "as_of", *self.signals) if c not in features.columns]
        if missing:
            raise DataError([Problem("features", missing[0], f"the model needs columns {', '.join(missing[:5])}")])
        x = to_matrix(features, self.bundle.spec)
        n = len(features)
        out: dict[str, object] = {
            "account_id": features["account_id"].astype(STRING_DTYPE).to_numpy(),
            "as_of": pd.to_datetime(features["as_of"], utc=True).astype(TIMESTAMP_DTYPE).to_numpy(),
        }
        for name in CONTEXT_COLUMNS:
            out[name] = features[name].astype(STRING_DTYPE).to_numpy() if name in features else pd.NA
        red: list[list[dict]] = [[] for _ in range(n)]
        green: list[list[dict]] = [[] for _ in range(n)]
        for name in OUTCOMES:
            model = self.bundle.outcomes.get(name)
            if model is None:
                out[f"{name}_probability"] = np.full(n, np.nan)
            elif name == "churn":
                contrib = contributions(model.booster, x)
                # The contributions add up to the raw score, so one pass gives both.
                out["churn_probability"] = model.calibrator.predict(contrib.sum(axis=1))
                red, green = flags(x.to_numpy(dtype=float), contrib, self.signals, lang=lang, config=config)
            else:
                out[f"{name}_probability"] = model.predict(x)
        health = _health(features, self.bundle)
        out.update({k: health[k].to_numpy() for k in ("health_score", "health_band", "onboarding")})
        out["health_trend"] = np.full(n, np.nan)
        arr = pd.to_numeric(features["arr"], errors="coerce") if "arr" in features else pd.Series(np.nan, index=x.index)
        out["arr"] = arr = arr.to_numpy(dtype=float)
        out["arr_at_risk"] = arr * np.asarray(out["churn_probability"], dtype=float)
        out["red_flags"], out["green_flags"] = red, green
        out["model_version"] = self.version
        out["scored_at"] = scored_at if scored_at is not None else pd.Timestamp.now(tz="UTC").floor("s")
        frame = pd.DataFrame(out, index=range(n))
        return _typed(frame)[list(SCORE_COLUMNS)]


def _health(features: pd.DataFrame, bundle: ModelBundle) -> pd.DataFrame:
    if bundle.scorecard is None:
        n = len(features)
        return pd.DataFrame({"health_score": np.full(n, np.nan), "health_band": [None] * n, "onboarding": False})
    return score_health(features.reset_index(drop=True), bundle.scorecard)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype(
        {
            "account_id": STRING_DTYPE, "as_of": TIMESTAMP_DTYPE, "segment": STRING_DTYPE,
            "csm_owner": STRING_DTYPE, "health_band": STRING_DTYPE, "model_version": STRING_DTYPE,
            "onboarding": bool, "scored_at": TIMESTAMP_DTYPE,
            **{f"{o}_probability": "float64" for o in OUTCOMES},
            "health_score": "float64", "health_trend": "float64", "arr": "float64", "arr_at_risk": "float64",
        }
    )


def with_trend(scores: pd.DataFrame, previous: pd.DataFrame | None) -> pd.DataFrame:
    """Fill ``health_trend``: the change in health score since each account's latest earlier scoring."""
    if previous is None or previous.empty:
        return scores
    prior = previous[["account_id", "as_of", "health_score"]].astype({"account_id": STRING_DTYPE})
    prior = prior.assign(as_of=pd.to_datetime(prior["as_of"], utc=True).astype(TIMESTAMP_DTYPE))
    current_as_of = scores["as_of"].max()
    prior = prior[prior["as_of"] < current_as_of].sort_values("as_of").groupby("account_id").tail(1)
    before = scores["account_id"].map(prior.set_index("account_id")["health_score"])
    return scores.assign(health_trend=(scores["health_score"] - before.astype("float64")).round(1))


def eligible_features(dataset: Dataset, features: pd.DataFrame, config: OutcomeConfig) -> pd.DataFrame:
    """The feature rows of accounts the churn model is meant for, with segment and CSM owner."""
    mask = eligible(dataset, features[["account_id", "as_of"]].reset_index(drop=True), config)
    rows = features.reset_index(drop=True)[mask]
    accounts = dataset.tables["accounts"]
    context = [c for c in CONTEXT_COLUMNS if c in accounts.columns]
    if context:
        rows = rows.merge(accounts[["account_id", *context]].drop_duplicates("account_id"), on="account_id", how="left")
    return rows.sort_values("account_id", ignore_index=True)


def score_dataset(
    dataset: Dataset,
    scorer: Scorer,
    as_of: date | datetime | pd.Timestamp,
    *,
    engine: str = "duckdb",
    lang: str = "en",
    top_k: int | None = None,
    previous: pd.DataFrame | None = None,
    progress: Progress | None = None,
    spark: object | None = None,
) -> pd.DataFrame:
    """Build features at ``as_of`` and score every eligible account (sorted by account_id)."""
    from features.builders import build_features

    say = progress or (lambda _step, _fraction: None)
    stamp = _utc(as_of)
    say("building features", 0.1)
    feature_set = build_features(dataset, [stamp], engine=engine)
    lacking = [s for s in scorer.signals if s not in feature_set.frame.columns]
    if lacking:
        reasons = {s.name: s.reason for s in feature_set.skipped}
        detail = "; ".join(f"{s} ({reasons.get(s, 'not computed')})" for s in lacking[:3])
        raise DataError([Problem("dataset", lacking[0], f"the model needs signals this dataset cannot give: {detail}")])
    say("selecting eligible accounts", 0.5)
    rows = eligible_features(dataset, feature_set.frame, scorer.outcome_config)
    say(f"scoring {len(rows):,} accounts", 0.6)
    if engine == "spark":
        from serving.spark_scoring import score_on_spark

        scores = score_on_spark(rows, scorer, lang=lang, top_k=top_k, spark=spark)
    else:
        scores = scorer.score(rows, lang=lang, top_k=top_k)
    say("done", 1.0)
    return with_trend(scores, previous)


def _utc(value: date | datetime | pd.Timestamp) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def top_accounts(scores: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The ``n`` accounts with the most ARR at risk (ties by churn probability, then ID)."""
    ranked = scores.sort_values(
        ["arr_at_risk", "churn_probability", "account_id"], ascending=[False, False, True], na_position="last"
    )
    return ranked.head(n)


def band_summary(scores: pd.DataFrame, bands: Sequence[str] = ("red", "yellow", "green")) -> pd.DataFrame:
    """Accounts, ARR and ARR at risk per health band."""
    grouped = scores.groupby(scores["health_band"].astype(object).fillna("none"))
    table = grouped.agg(accounts=("account_id", "size"), arr=("arr", "sum"), arr_at_risk=("arr_at_risk", "sum"))
    order = [b for b in (*bands, "none") if b in table.index]
    return table.reindex(order)
