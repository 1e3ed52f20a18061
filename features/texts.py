"""The dataset's free text as one scored table: survey comments, CSM notes, ticket text.

``text_rows`` gives one row per non-blank text: account_id, at (int64 UTC micros, the row's
time), source, text, sentiment in [-1, 1], negative (0/1) and risk_hits (risk phrases in it).
The feature builders register it as a derived table ``texts`` beside the contract's tables.

Why sentiment is computed here, in pandas, and not in ibis: the scorers (VADER, the Turkish
lexicon) are Python, and a Python UDF would run differently (or not at all) on DuckDB and
Spark. Scoring each distinct text once while loading gives both engines the same numbers;
the point-in-time windows over the scores are ibis expressions like every other signal
(:mod:`features.builders_text`). Texts are few next to usage events, so this is cheap.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from features.config import FeatureConfig
from features.loader import Dataset
from features.sentiment import NEGATIVE_BELOW, risk_hits, score_texts
from features.times import MICROS_PER_DAY, series_micros

# (table, text column, time column) of every free text the contract has.
TEXT_SOURCES: tuple[tuple[str, str, str], ...] = (
    ("surveys", "comment", "answered_at"),
    ("csm_inputs", "note", "recorded_at"),
    ("support_tickets", "description", "opened_at"),
)
TEXTS = "texts"
TEXT_COLUMNS = ("account_id", "at", "sentiment", "negative", "risk_hits")  # what the engines see
QUOTE_DAYS = 90  # a red flag quotes the most negative text of this many days before as_of
QUOTE_WIDTH = 120  # characters of a quote before it is cut with "..."


def has_text(dataset: Dataset) -> bool:
    """Whether any table of the dataset has a free-text column of :data:`TEXT_SOURCES`."""
    return any(dataset.has(table, column) and dataset.has(table, time) for table, column, time in TEXT_SOURCES)


def present_columns(dataset: Dataset) -> dict[str, tuple[str, ...]]:
    """Table -> columns of the dataset, plus the derived ``texts`` table when there is text."""
    present = dataset.present_columns()
    if has_text(dataset):
        present[TEXTS] = TEXT_COLUMNS
    return present


def text_rows(dataset: Dataset, config: FeatureConfig | None = None) -> pd.DataFrame:
    """Every non-blank text with its score, sorted by account and time (see the module doc)."""
    config = config or FeatureConfig()
    parts = []
    for table, column, time in TEXT_SOURCES:
        frame = dataset.select(table, ("account_id", time, column))
        if frame is None or column not in frame or time not in frame or "account_id" not in frame:
            continue
        text = frame[column].astype("string")
        keep = (text.notna() & (text.str.strip().str.len() > 0) & frame[time].notna()).to_numpy(dtype=bool)
        if not keep.any():
            continue
        rows = frame.loc[keep, ["account_id", time]]
        parts.append(
            pd.DataFrame(
                {
                    "account_id": rows["account_id"].astype("string").to_numpy(),
                    "at": np.asarray(series_micros(rows[time]), dtype=np.int64),
                    "source": table,
                    "text": text[keep].astype(object).to_numpy(),
                }
            )
        )
    if not parts:
        return _empty()
    out = pd.concat(parts, ignore_index=True)
    out["sentiment"] = score_texts(out["text"], config.text_language)
    out = out[out["sentiment"].notna()]
    out["negative"] = (out["sentiment"] <= NEGATIVE_BELOW).astype("int64")
    hits = {t: risk_hits(t, config.risk_phrases) for t in pd.unique(out["text"])}
    out["risk_hits"] = out["text"].map(hits).astype("int64")
    out = out.sort_values(["account_id", "at", "source"], kind="stable").reset_index(drop=True)
    return out.astype({"account_id": "string", "source": "string"})


def _empty() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account_id": pd.Series(dtype="string"),
            "at": pd.Series(dtype="int64"),
            "source": pd.Series(dtype="string"),
            "text": pd.Series(dtype=object),
            "sentiment": pd.Series(dtype="float64"),
            "negative": pd.Series(dtype="int64"),
            "risk_hits": pd.Series(dtype="int64"),
        }
    )


def engine_columns(rows: pd.DataFrame) -> dict[str, pd.Series]:
    """The columns the engines get (no text): account_id, at, sentiment, negative, risk_hits."""
    return {
        "account_id": rows["account_id"].astype(object).astype("string").reset_index(drop=True),
        "at": rows["at"].astype("int64").reset_index(drop=True),
        "sentiment": rows["sentiment"].astype("float64").reset_index(drop=True),
        "negative": rows["negative"].astype("int64").reset_index(drop=True),
        "risk_hits": rows["risk_hits"].astype("int64").reset_index(drop=True),
    }


def quote(text: str, at_micros: int, width: int = QUOTE_WIDTH) -> str:
    """A text as a reason quotes it: in quotes, cut at ``width`` characters, with its UTC date."""
    one_line = " ".join(str(text).split())
    if len(one_line) > width:
        one_line = one_line[: width - 3].rstrip() + "..."
    day = pd.Timestamp(int(at_micros), unit="us", tz="UTC").strftime("%Y-%m-%d")
    return f'"{one_line}" ({day})'


def recent_quotes(
    dataset: Dataset,
    as_of: Sequence[pd.Timestamp],
    config: FeatureConfig | None = None,
    *,
    days: int = QUOTE_DAYS,
) -> pd.DataFrame:
    """Per (account_id, as_of): the most negative text of the ``days`` before as_of, quoted.

    Only negative texts and texts with a risk phrase are quoted (each risk phrase, up to two,
    counts as -0.5 of sentiment in the ranking); ties go to the latest. Rows dated at or after as_of are
    never used. Columns: account_id (string), as_of (UTC), quote (string).
    """
    rows = text_rows(dataset, config) if has_text(dataset) else _empty()
    # A risk phrase ("we are evaluating a competitor") is what a CSM must read, even where the
    # lexicon finds no negative word: such texts are candidates too, and rank as more negative.
    rows = rows[(rows["negative"] == 1) | (rows["risk_hits"] > 0)]
    rows = rows.assign(_rank=rows["sentiment"] - 0.5 * rows["risk_hits"].clip(upper=2))
    out = []
    for stamp in as_of:
        a = int(pd.Timestamp(stamp).as_unit("ns").value // 1000)
        window = rows[(rows["at"] < a) & (rows["at"] >= a - days * MICROS_PER_DAY)]
        if window.empty:
            continue
        worst = window.sort_values(["account_id", "_rank", "at"], ascending=[True, True, False], kind="stable")
        worst = worst.drop_duplicates("account_id")
        out.append(
            pd.DataFrame(
                {
                    "account_id": worst["account_id"].to_numpy(),
                    "as_of": pd.Timestamp(stamp),
                    "quote": [quote(t, at) for t, at in zip(worst["text"], worst["at"], strict=True)],
                }
            )
        )
    if not out:
        return pd.DataFrame(
            {"account_id": pd.Series(dtype="string"), "as_of": pd.Series(dtype="datetime64[us, UTC]"), "quote": []}
        )
    frame = pd.concat(out, ignore_index=True)
    return frame.astype({"account_id": "string", "quote": "string"})
