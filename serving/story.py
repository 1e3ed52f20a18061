"""The account's story in memory: its stored scorings, what changed between them, movers and alerts.

Built once from the history file (:mod:`serving.history`) plus, optionally, the scoring just
made; then every question (history, change since a date, what-if, movers) is a lookup and a
small exact computation. The same object serves the API, the CRM change fields and `churn alerts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from serving.changes import Change, Point, compare, health_sentence
from serving.history import one_per_date

POINT_COLUMNS = ["value", "contribution", "component", "points", "possible"]


@dataclass(frozen=True)
class Mover:
    account_id: str
    name: str | None
    change: Change


class Story:
    """Scorings per account (one per as_of, the served model's where there are several), with their details."""

    def __init__(self, scores: pd.DataFrame, details: pd.DataFrame, prefer: str | None = None) -> None:
        self.scores = one_per_date(scores, prefer).reset_index(drop=True)
        key = ["account_id", "as_of", "model_version"]
        kept = details.merge(self.scores[key], on=key, how="inner") if len(details) else details
        # Plain dicts: comparing two scorings is then a few hundred lookups, not pandas indexing.
        # Columns go through numpy once and each date becomes a Timestamp once (per-row pandas
        # conversions made this the slowest part of loading a few thousand scorings).
        self._details: dict[tuple[str, pd.Timestamp], dict[str, dict[str, Any]]] = {}
        stamps = {t: pd.Timestamp(t) for t in pd.unique(kept["as_of"])} if len(kept) else {}
        columns = [kept[c].to_numpy(dtype=object) for c in ["account_id", "as_of", "signal", *POINT_COLUMNS]]
        for a, t, signal, *values in zip(*columns, strict=True):
            point = self._details.setdefault((str(a), stamps[t]), {})
            point[str(signal)] = dict(zip(POINT_COLUMNS, values, strict=True))
        self._rows: dict[str, list[dict[str, Any]]] = {}
        for row in self.scores.sort_values(["account_id", "as_of"], kind="stable").to_dict("records"):
            self._rows.setdefault(str(row["account_id"]), []).append(row)

    @classmethod
    def combine(
        cls,
        stored: tuple[pd.DataFrame, pd.DataFrame],
        *new: tuple[pd.DataFrame, pd.DataFrame],
        prefer: str | None = None,
    ) -> Story:
        """The stored history with newer scorings added (a new scoring replaces a stored one with its key)."""
        frames = [stored, *new]
        scores = pd.concat([f[0] for f in frames if len(f[0])] or [stored[0]], ignore_index=True)
        details = pd.concat([f[1] for f in frames if len(f[1])] or [stored[1]], ignore_index=True)
        if len(scores):
            key = ["account_id", "as_of", "model_version"]
            scores = scores.drop_duplicates(key, keep="last")
            details = details.drop_duplicates([*key, "signal"], keep="last")
        return cls(scores, details, prefer)

    def rows(self, account_id: str) -> list[dict[str, Any]]:
        """The account's scorings, oldest first."""
        return self._rows.get(account_id, [])

    def point(self, row: dict[str, Any]) -> Point:
        key = (str(row["account_id"]), pd.Timestamp(row["as_of"]))
        return Point(row, self._details.get(key, {}))

    def values(self, account_id: str) -> dict[str, float]:
        """Every stored signal value of the account's latest scoring."""
        rows = self.rows(account_id)
        if not rows:
            return {}
        details = self.point(rows[-1]).details
        return {k: float(d["value"]) for k, d in details.items() if not k.startswith("_") and " " not in k}

    def change(self, account_id: str, since: pd.Timestamp | None = None) -> Change | None:
        """From the latest scoring on or before ``since`` (default: the previous scoring) to the latest."""
        rows = self.rows(account_id)
        if len(rows) < 2:
            return None
        earlier = rows[:-1]
        if since is not None:
            earlier = [r for r in earlier if pd.Timestamp(r["as_of"]) <= since] or earlier[:1]
        return compare(self.point(earlier[-1]), self.point(rows[-1]))

    def changes(self, *, days: int | None = None) -> list[Mover]:
        """Every account's change since its previous scoring (or since ``days`` before its latest)."""
        out = []
        for account_id, rows in self._rows.items():
            if len(rows) < 2:
                continue
            since = None if days is None else pd.Timestamp(rows[-1]["as_of"]) - pd.Timedelta(days=days)
            if since is not None and not any(pd.Timestamp(r["as_of"]) <= since for r in rows[:-1]):
                continue
            change = self.change(account_id, since)
            if change is not None:
                name = rows[-1].get("name")
                out.append(Mover(account_id, None if name is None or pd.isna(name) else str(name), change))
        return out

    @cached_property
    def _since_previous(self) -> list[Mover]:
        return self.changes()  # computed once: the story does not change while it is served

    def movers(self, n: int = 20) -> list[Mover]:
        """The accounts whose health fell most since their previous scoring (only falls), worst first."""
        fell = [m for m in self._since_previous if m.change.health_change < 0]
        return sorted(fell, key=lambda m: (m.change.health_change, m.account_id))[:n]


def crm_change_fields(story: Story, scores: pd.DataFrame, lang: str = "en", days: int = 30) -> pd.DataFrame:
    """``health_change_30d`` and ``top_change_reason`` for each scored account (empty where no history)."""
    found = {m.account_id: m.change for m in story.changes(days=days)}
    latest = scores["as_of"].max() if len(scores) else None
    change, reason = [], []
    for account_id in scores["account_id"].astype(str):
        c = found.get(account_id)
        if c is not None and c.after.as_of == latest:
            change.append(c.health_change / 10)
            reason.append(health_sentence(c, lang) if c.health_change else "")
        else:
            change.append(np.nan)
            reason.append("")
    return scores.assign(health_change_30d=change, top_change_reason=reason)


def latest_values(story: Story, account_ids: list[str]) -> pd.DataFrame:
    """Signal values of each account's latest stored scoring: one row per account, one column per signal."""
    rows = {a: story.values(a) for a in account_ids}
    return pd.DataFrame.from_dict(rows, orient="index").reindex(account_ids)


def with_context(scores: pd.DataFrame, story: Story) -> pd.DataFrame:
    """The served scores with the account's ``name``, ``days_to_renewal`` and ``renewal_date`` from the history."""
    names, days = [], []
    for account_id, as_of in zip(scores["account_id"].astype(str), scores["as_of"], strict=True):
        rows = [r for r in story.rows(account_id) if pd.Timestamp(r["as_of"]) == pd.Timestamp(as_of)]
        name = rows[-1].get("name") if rows else None
        names.append(None if name is None or pd.isna(name) else str(name))
        value = story.point(rows[-1]).details.get("days_to_renewal", {}).get("value") if rows else None
        days.append(np.nan if value is None or pd.isna(value) else float(value))
    out = scores.assign(name=pd.array(names, dtype="string"), days_to_renewal=np.asarray(days, dtype=float))
    renewal = pd.to_datetime(out["as_of"], utc=True) + pd.to_timedelta(out["days_to_renewal"].round(), unit="D")
    return out.assign(renewal_date=renewal.dt.normalize())
