"""Score history: every scoring run kept per (account_id, as_of, model version) in one DuckDB file.

Two tables. ``scores`` holds one row per account and scoring (the scores frame without its
flags, plus the account's name and the churn model's raw log-odds). ``details`` holds, per
account and scoring, every signal's value, its TreeSHAP contribution to the churn log-odds
and, for scorecard measures, the points earned and possible (:mod:`serving.breakdown`); a
``_base`` row carries the model's base value, so a scoring's contributions add up to its
log-odds exactly. With both, any two scorings can be compared exactly (:mod:`serving.changes`)
long after the data or the model folder has moved on.

Writing is idempotent: rows with the same key are replaced in one transaction, so re-running
a date (or a backfill) never duplicates it and a crash leaves the previous history whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from features.loader import STRING_DTYPE, TIMESTAMP_DTYPE
from features.times import utc_series
from serving.breakdown import breakdown
from training.model.matrix import float_block

KEY = ("account_id", "as_of", "model_version")
BASE = "_base"  # the details row holding the churn model's base value
FILE_NAME = "history.duckdb"
SCORE_FIELDS = (
    *KEY,
    "name",
    "segment",
    "csm_owner",
    "health_score",
    "health_band",
    "churn_probability",
    "churn_log_odds",
    "arr",
    "arr_at_risk",
    "onboarding",
    "scored_at",
)
DETAIL_FIELDS = (*KEY, "signal", "value", "contribution", "component", "points", "possible")
SCHEMA = {
    "scores": (
        "account_id VARCHAR, as_of TIMESTAMPTZ, model_version VARCHAR, name VARCHAR, segment VARCHAR, "
        "csm_owner VARCHAR, health_score DOUBLE, health_band VARCHAR, churn_probability DOUBLE, "
        "churn_log_odds DOUBLE, arr DOUBLE, arr_at_risk DOUBLE, onboarding BOOLEAN, scored_at TIMESTAMPTZ"
    ),
    "details": (
        "account_id VARCHAR, as_of TIMESTAMPTZ, model_version VARCHAR, signal VARCHAR, value DOUBLE, "
        "contribution DOUBLE, component VARCHAR, points DOUBLE, possible DOUBLE"
    ),
}


def default_path(model_dir: Path) -> Path:
    """Beside the model folder (not inside it: a retrained folder replaces the whole folder)."""
    return Path(model_dir).resolve().parent / FILE_NAME


def explain(scorer: Any, rows: pd.DataFrame, scores: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The history rows of one scoring: (scores rows, details rows) for ``rows`` scored as ``scores``.

    ``rows`` is the signal frame that was scored (same order as ``scores``), optionally with ``name``.
    """
    block = float_block(rows, scorer.inputs)
    at = {name: i for i, name in enumerate(scorer.inputs)}
    spec = scorer.bundle.spec
    x = block[:, [at[name] for name in spec.numeric]]
    x[~np.isfinite(x)] = np.nan
    explainer = scorer.explainer
    contrib = (
        explainer.contributions(x) if explainer is not None else np.full((len(rows), len(spec.numeric) + 1), np.nan)
    )
    keys = scores[list(KEY)].to_dict("records")
    frame = scores.reset_index(drop=True).assign(
        name=rows["name"].astype(STRING_DTYPE).to_numpy() if "name" in rows else pd.NA,
        churn_log_odds=contrib.sum(axis=1),
    )[list(SCORE_FIELDS)]
    card = scorer.bundle.scorecard
    details: dict[str, list[Any]] = {f: [] for f in DETAIL_FIELDS}
    for i in range(len(rows)):
        values = {name: block[i, j] for name, j in at.items()}
        points = {p.signal: p for p in breakdown(values, card)} if card is not None else {}
        names = [*dict.fromkeys([*scorer.inputs, *points])]
        for name in names:
            point = points.get(name)
            j = spec.numeric.index(name) if name in spec.numeric else None
            _append(
                details,
                keys[i],
                name,
                values.get(name, np.nan),
                np.nan if j is None else contrib[i, j],
                point,
            )
        _append(details, keys[i], BASE, np.nan, contrib[i, -1], None)
    return _typed(frame), _typed(pd.DataFrame(details))


def _append(
    out: dict[str, list[Any]], key: dict[str, Any], signal: str, value: float, contribution: float, point: Any
) -> None:
    for name in KEY:
        out[name].append(key[name])
    out["signal"].append(signal)
    out["value"].append(float(value) if np.isfinite(value) else np.nan)
    out["contribution"].append(float(contribution))
    out["component"].append(None if point is None else point.component)
    out["points"].append(np.nan if point is None else point.earned_points)
    out["possible"].append(np.nan if point is None else point.possible_points)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    kinds = {"account_id": STRING_DTYPE, "model_version": STRING_DTYPE, "as_of": TIMESTAMP_DTYPE}
    return frame.astype({k: v for k, v in kinds.items() if k in frame})


def record(path: Path, scores: pd.DataFrame, details: pd.DataFrame) -> int:
    """Add one or more scorings to the history at ``path``, replacing rows with the same key; returns rows kept."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path))
    except duckdb.Error as exc:
        raise ValueError(f"{path}: cannot open the score history for writing ({exc})") from None
    try:
        for table, columns in SCHEMA.items():
            con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns})")
        con.execute("BEGIN TRANSACTION")
        con.register("new_scores", scores[list(SCORE_FIELDS)])
        con.register("new_details", details[list(DETAIL_FIELDS)])
        on = " AND ".join(f"t.{k} = n.{k}" for k in KEY)
        for table, new in (("scores", "new_scores"), ("details", "new_details")):
            con.execute(f"DELETE FROM {table} t USING (SELECT DISTINCT {', '.join(KEY)} FROM new_scores) n WHERE {on}")  # noqa: S608
            con.execute(f"INSERT INTO {table} SELECT * FROM {new}")  # noqa: S608 - fixed names
        con.execute("COMMIT")
        (kept,) = con.execute("SELECT count(*) FROM scores").fetchone() or (0,)
        return int(kept)
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.close()


def read_history(
    path: Path, *, accounts: Sequence[str] | None = None, with_details: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The stored (scores, details), optionally for some accounts only; empty frames when there is no file."""
    path = Path(path)
    if not path.is_file():
        return _empty("scores"), _empty("details")
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise ValueError(f"{path}: cannot read the score history ({exc})") from None
    try:
        where, params = ("", [])
        if accounts is not None:
            where, params = "WHERE account_id IN (SELECT unnest(?))", [list(accounts)]
        scores = con.execute(f"SELECT * FROM scores {where} ORDER BY account_id, as_of", params).df()  # noqa: S608
        details = (
            con.execute(f"SELECT * FROM details {where}", params).df()  # noqa: S608
            if with_details
            else _empty("details")
        )
    finally:
        con.close()
    return _clean(scores), _clean(details)


def _empty(table: str) -> pd.DataFrame:
    fields = SCORE_FIELDS if table == "scores" else DETAIL_FIELDS
    return _typed(pd.DataFrame({f: pd.Series(dtype=object) for f in fields}))


def _clean(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for name in ("as_of", "scored_at"):
        if name in out:
            out[name] = utc_series(out[name])
    return _typed(out)


def one_per_date(scores: pd.DataFrame, prefer: str | None = None) -> pd.DataFrame:
    """One scoring per (account, as_of): the ``prefer`` model version's when present, else the latest run."""
    if scores.empty:
        return scores
    rank = (scores["model_version"] == prefer).astype(int) if prefer else 0
    ordered = scores.assign(_rank=rank).sort_values(["account_id", "as_of", "_rank", "scored_at"])
    return ordered.groupby(["account_id", "as_of"], as_index=False).tail(1).drop(columns="_rank").reset_index(drop=True)
