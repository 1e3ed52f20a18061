"""Batch scoring: probabilities, health score and explained flags for every eligible account.

:class:`Scorer` wraps one verified model folder and turns a signal frame (one row per
account and as_of, as :func:`features.builders.build_features` returns) into the scores
frame of DESIGN.md section 7. The same call serves the batch job, the Spark path and the
API, so a score is the same number wherever it is computed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.config import FeatureConfig
from features.errors import DataError, Problem
from features.loader import STRING_DTYPE, TIMESTAMP_DTYPE, Dataset
from features.settings import SETTINGS_FILE, Settings
from features.signals import TEXT_SIGNALS
from features.texts import recent_quotes
from features.times import utc, utc_series
from serving.columns import CONTEXT_COLUMNS, OUTCOMES, QUOTE_COLUMN, SCORE_COLUMNS
from serving.flags import FlagConfig, flags
from training.model.folder import ModelBundle, ModelFolderError, load_model_folder
from training.model.matrix import float_block
from training.model.scorecard_core import score_health_arrays
from training.model.treeshap import TreeShap
from training.outcomes import OutcomeConfig, eligible

Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class Scorer:
    """One loaded, checksum-verified model folder, ready to score signal frames."""

    bundle: ModelBundle
    flag_config: FlagConfig = field(default_factory=FlagConfig)

    def __post_init__(self) -> None:
        if self.bundle.spec.categorical:
            raise ValueError(
                f"the model reads text features ({', '.join(self.bundle.spec.categorical)}): scoring serves "
                "dataset models, whose signals are all numbers"
            )
        self.explainer  # noqa: B018 - the TreeSHAP tables are built (and the kernel loaded) with the model

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
        """The outcome rules the model was trained with (its settings.toml)."""
        return OutcomeConfig(**asdict(self._settings.outcomes))

    @property
    def feature_config(self) -> FeatureConfig:
        """The feature settings the model was trained with (key events, chosen event types, windows)."""
        return self._settings.features

    @property
    def _settings(self) -> Settings:
        if self.bundle.settings is None:  # only a model trained on a table (`churn train --table`) has none
            raise ModelFolderError(f"{self.bundle.path}: no {SETTINGS_FILE}; this model was not trained on a history")
        return self.bundle.settings

    @cached_property
    def inputs(self) -> tuple[str, ...]:
        """Every column read as a number: the models' signals, the scorecard's, and ``arr``."""
        card = self.bundle.scorecard.signals if self.bundle.scorecard is not None else ()
        return tuple(dict.fromkeys([*self.bundle.spec.numeric, *card, "arr"]))

    @cached_property
    def explainer(self) -> TreeShap | None:
        """The churn model's exact TreeSHAP, its per-leaf tables precomputed (None without a churn model)."""
        churn = self.bundle.outcomes.get("churn")
        return TreeShap.from_booster(churn.booster) if churn is not None else None

    @cached_property
    def typical(self) -> np.ndarray:
        """Each signal's median in the model's reference profile (NaN for folders without one)."""
        profiles = (self.bundle.reference or {}).get("features", {})
        medians = [profiles.get(name, {}).get("median") for name in self.signals]
        return np.array([np.nan if m is None else m for m in medians], dtype=float)

    def score(
        self,
        features: pd.DataFrame,
        *,
        lang: str = "en",
        top_k: int | None = None,
        scored_at: pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        """Score a signal frame; one output row per input row, in the same order.

        ``features`` needs ``account_id``, ``as_of`` and the model's signal columns (a missing
        signal column is an error; a missing value is fine). ``segment``, ``csm_owner`` and
        ``arr`` are carried through when present.
        """
        missing = [c for c in ("account_id", "as_of", *self.signals) if c not in features.columns]
        if missing:
            raise DataError([Problem("features", missing[0], f"the model needs columns {', '.join(missing[:5])}")])
        out = self._score_block(float_block(features, self.inputs), lang, top_k)
        if QUOTE_COLUMN in features:
            out["red_flags"] = with_quotes(out["red_flags"], features[QUOTE_COLUMN].tolist())
        out["account_id"] = features["account_id"].astype(STRING_DTYPE).to_numpy()
        out["as_of"] = utc_series(features["as_of"]).to_numpy()
        for name in CONTEXT_COLUMNS:
            out[name] = features[name].astype(STRING_DTYPE).to_numpy() if name in features else pd.NA
        out["health_trend"] = np.full(len(features), np.nan)
        out["model_version"] = self.version
        out["scored_at"] = scored_at if scored_at is not None else _now()
        return _typed(pd.DataFrame(out, index=range(len(features))))[list(SCORE_COLUMNS)]

    def score_rows(self, rows: Sequence[Mapping[str, Any]], *, lang: str = "en") -> list[dict[str, Any]]:
        """:meth:`score` for a few posted accounts as dicts, without a DataFrame on the way (the API's path).

        Each row holds ``account_id``, ``as_of`` (a datetime), optional ``segment``/``csm_owner``
        and signal values as numbers or None. The result rows carry the same values as
        :meth:`score` gives for the same signals; the API's tests hold the two paths equal.
        """
        block = np.array([[row.get(name) for name in self.inputs] for row in rows], dtype=float)
        out = self._score_block(block.reshape(len(rows), len(self.inputs)), lang, None)
        out["red_flags"] = with_quotes(out["red_flags"], [row.get(QUOTE_COLUMN) for row in rows])
        scored_at = _now()
        fields = [k for k in SCORE_COLUMNS if k in out]
        return [
            {
                "account_id": str(row["account_id"]),
                "as_of": utc(row["as_of"]),
                "segment": row.get("segment"),
                "csm_owner": row.get("csm_owner"),
                **{k: out[k][i] for k in fields},
                "health_trend": np.nan,
                "model_version": self.version,
                "scored_at": scored_at,
            }
            for i, row in enumerate(rows)
        ]

    def _score_block(self, block: np.ndarray, lang: str, top_k: int | None) -> dict[str, Any]:
        """Probabilities, health, ARR at risk and flags from the float columns of :attr:`inputs`."""
        config = self.flag_config if top_k is None else FlagConfig(top_k=top_k)
        n = len(block)
        at = {name: i for i, name in enumerate(self.inputs)}
        spec = self.bundle.spec
        x = block[:, [at[name] for name in spec.numeric]]
        x[~np.isfinite(x)] = np.nan  # as to_matrix does
        out: dict[str, Any] = {}
        for name in OUTCOMES:
            model = self.bundle.outcomes.get(name)
            if model is None:
                out[f"{name}_probability"] = np.full(n, np.nan)
            elif name == "churn" and self.explainer is not None:
                # One pass gives both: the raw score is the leaves' sum in LightGBM's order (its
                # prediction to the bit), and the contributions add up to it.
                contrib, raw = self.explainer.explain(x)
                out["churn_probability"] = model.calibrator.predict(raw)
                out["red_flags"], out["green_flags"] = flags(
                    x, contrib, self.signals, lang=lang, config=config, typical=self.typical
                )
            else:
                out[f"{name}_probability"] = model.predict(x)
        if "red_flags" not in out:  # no churn model, no reasons
            out["red_flags"], out["green_flags"] = [[] for _ in range(n)], [[] for _ in range(n)]
        if self.bundle.scorecard is None:
            out.update(
                health_score=np.full(n, np.nan),
                health_band=np.full(n, None, dtype=object),
                onboarding=np.zeros(n, dtype=bool),
            )
        else:
            health = score_health_arrays(
                {k: block[:, at[k]] for k in self.bundle.scorecard.signals}, n, self.bundle.scorecard
            )
            out.update({k: health[k] for k in ("health_score", "health_band", "onboarding")})
        out["arr"] = arr = block[:, at["arr"]]
        out["arr_at_risk"] = arr * np.asarray(out["churn_probability"], dtype=float)
        return out


def with_quotes(red_flags: list[list[dict[str, Any]]], quotes: Sequence[object]) -> list[list[dict[str, Any]]]:
    """Red flags with each row's quote appended to the first flag of a text signal.

    ``quotes`` holds one quoted comment (``'"Too slow" (2025-05-03)'``) or a missing value per row.
    """
    out = []
    for flags_, quoted in zip(red_flags, quotes, strict=True):
        if quoted is None or quoted is pd.NA or quoted != quoted or not str(quoted):
            out.append(flags_)
            continue
        at = next((i for i, f in enumerate(flags_) if f["signal"] in TEXT_SIGNALS), None)
        if at is None:
            out.append(flags_)
            continue
        changed = list(flags_)
        changed[at] = {**flags_[at], "sentence": f"{flags_[at]['sentence']}: {quoted}"}
        out.append(changed)
    return out


def _now() -> pd.Timestamp:
    return pd.Timestamp(datetime.now(UTC).replace(microsecond=0))


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype(
        {
            "account_id": STRING_DTYPE,
            "as_of": TIMESTAMP_DTYPE,
            "segment": STRING_DTYPE,
            "csm_owner": STRING_DTYPE,
            "health_band": STRING_DTYPE,
            "model_version": STRING_DTYPE,
            "onboarding": bool,
            "scored_at": TIMESTAMP_DTYPE,
            **{f"{o}_probability": "float64" for o in OUTCOMES},
            "health_score": "float64",
            "health_trend": "float64",
            "arr": "float64",
            "arr_at_risk": "float64",
        }
    )


def with_trend(scores: pd.DataFrame, previous: pd.DataFrame | None) -> pd.DataFrame:
    """Fill ``health_trend``: the change in health score since each account's latest earlier scoring."""
    if previous is None or previous.empty:
        return scores
    prior = previous[["account_id", "as_of", "health_score"]].astype({"account_id": STRING_DTYPE})
    prior = prior.assign(as_of=utc_series(prior["as_of"]))
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


def with_quote_column(dataset: Dataset, rows: pd.DataFrame, stamp: pd.Timestamp) -> pd.DataFrame:
    """``rows`` with the :data:`QUOTE_COLUMN` of each account at ``stamp`` (missing when none)."""
    quotes = recent_quotes(dataset, [stamp]).set_index("account_id")["quote"]
    return rows.assign(**{QUOTE_COLUMN: rows["account_id"].map(quotes).astype(STRING_DTYPE)})


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
