"""CRM export: a flat UTF-8 CSV, one row per account, with a configurable field mapping.

The mapping is data: CRM field name -> a source, either a scores column (``churn_probability``)
or a red-flag reason (``red_flag_1`` .. ``red_flag_3``: that flag's sentence). The default
names follow Salesforce custom-field style, ready for a data loader. The "changed" mode
writes only the accounts whose exported values (apart from the timestamp) differ from a
previous full export, so a nightly job touches only records that moved.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import yaml

from features.atomic_write import atomic_file
from features.write_lock import write_locks

DEFAULT_MAPPING: dict[str, str] = {
    "Account_External_Id__c": "account_id",
    "Churn_Risk__c": "churn_probability",
    "Health_Score__c": "health_score",
    "Health_Band__c": "health_band",
    "Risk_Reason_1__c": "red_flag_1",
    "Risk_Reason_2__c": "red_flag_2",
    "Risk_Reason_3__c": "red_flag_3",
    "Upsell_Propensity__c": "upsell_probability",
    "Model_Version__c": "model_version",
    "Scored_At__c": "scored_at",
    "Health_Change_30d__c": "health_change_30d",
    "Top_Change_Reason__c": "top_change_reason",
}
# Filled from the score history (serving.story.crm_change_fields); blank for scores without one.
HISTORY_SOURCES = ("health_change_30d", "top_change_reason")
KEY_SOURCE = "account_id"
VOLATILE_SOURCES = ("scored_at",)  # never a reason to re-send a record
ROUNDING = {
    "churn_probability": 4,
    "renewal_probability": 4,
    "upsell_probability": 4,
    "health_score": 1,
    "arr": 2,
    "arr_at_risk": 2,
    "health_trend": 1,
    "health_change_30d": 1,
}
FLAG_SOURCES = {f"red_flag_{i}": ("red_flags", i - 1) for i in range(1, 6)} | {
    f"green_flag_{i}": ("green_flags", i - 1) for i in range(1, 6)
}


class MappingError(ValueError):
    """The CRM field mapping names an unknown source or lacks the account key."""


def load_mapping(path: Path) -> dict[str, str]:
    """A mapping file: JSON or YAML object of CRM field -> source."""
    doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(doc, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in doc.items()):
        raise MappingError(f"{path}: the CRM mapping must be an object of field name -> source name")
    return dict(doc)


def check_mapping(mapping: Mapping[str, str], columns: list[str]) -> None:
    known = set(columns) | set(FLAG_SOURCES) | set(HISTORY_SOURCES)
    unknown = [f"{field}: {source}" for field, source in mapping.items() if source not in known]
    if unknown:
        raise MappingError(f"CRM mapping names unknown sources ({', '.join(unknown[:3])}); known: {sorted(known)}")
    if KEY_SOURCE not in mapping.values():
        raise MappingError("CRM mapping needs a field mapped to account_id (the record key)")


def crm_frame(scores: pd.DataFrame, mapping: Mapping[str, str] = DEFAULT_MAPPING) -> pd.DataFrame:
    """The CRM rows as text: one per account, columns named by the mapping."""
    check_mapping(mapping, list(scores.columns))
    columns = {}
    for field, source in mapping.items():
        if source in FLAG_SOURCES:
            flags, index = FLAG_SOURCES[source]
            columns[field] = [f[index]["sentence"] if len(f) > index else "" for f in scores[flags]]
        elif source not in scores:  # a history field of scores made without a history
            columns[field] = [""] * len(scores)
        else:
            columns[field] = [_text(v, source) for v in scores[source]]
    return pd.DataFrame(columns, index=scores.index).sort_values(_key_field(mapping), ignore_index=True)


def _text(value: object, source: str) -> str:
    if value is None or (not isinstance(value, list | dict) and pd.isna(value)):
        return ""
    if isinstance(value, pd.Timestamp):
        return str(value.strftime("%Y-%m-%dT%H:%M:%SZ"))
    if isinstance(value, float) and source in ROUNDING:
        return f"{value:.{ROUNDING[source]}f}"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _key_field(mapping: Mapping[str, str]) -> str:
    return next(field for field, source in mapping.items() if source == KEY_SOURCE)


def changed_rows(current: pd.DataFrame, previous: pd.DataFrame, mapping: Mapping[str, str]) -> pd.DataFrame:
    """Rows of ``current`` that are new or whose non-volatile fields differ from ``previous``."""
    key = _key_field(mapping)
    compare = [f for f, s in mapping.items() if s not in VOLATILE_SOURCES and f in previous.columns]
    before = previous.drop_duplicates(key, keep="last").set_index(key)[[c for c in compare if c != key]]
    after = current.set_index(key)[[c for c in compare if c != key]]
    known = after.index.isin(before.index)
    same = pd.Series(False, index=after.index)
    if known.any():
        same[known] = (after[known].fillna("") == before.reindex(after.index[known]).fillna("")).all(axis=1)
    return current[~same.to_numpy()].reset_index(drop=True)


def read_export(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")


def write_crm(
    scores: pd.DataFrame,
    target: Path | str,
    *,
    mapping: Mapping[str, str] = DEFAULT_MAPPING,
    changes: Path | str | None = None,
) -> tuple[int, int | None]:
    """Write the full CRM CSV to ``target`` atomically, and optionally the changed rows to ``changes``.

    The changes file holds the rows that differ from the full export previously at ``target``
    (every row when there was none); it is written before ``target`` is replaced. Both are
    locked for the write (:class:`features.write_lock.TargetBusy` if another run holds one).
    Returns the number of rows in the full export and in the changes file.
    """
    rows = crm_frame(scores, mapping)
    target = Path(target)
    changed = None
    with write_locks(target, changes):  # the changes file is computed from target: both or neither
        if changes is not None:
            delta = changed_rows(rows, read_export(target), mapping) if target.is_file() else rows
            with atomic_file(Path(changes)) as tmp:
                delta.to_csv(tmp, index=False, encoding="utf-8")
            changed = len(delta)
        with atomic_file(target) as tmp:
            rows.to_csv(tmp, index=False, encoding="utf-8")
    return len(rows), changed
