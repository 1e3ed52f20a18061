"""The wording of the contract's rules, shared by the pandas loader and validation and by their
queries on stored tables (:mod:`features.validation_stored`), so both paths say the same thing."""

from __future__ import annotations

from features.contract import MAX_MAGNITUDE, ColumnSpec, Kind

TOO_LARGE = f"integers too large (beyond +-{MAX_MAGNITUDE:g}; int64 holds at most 9.2e18)"
MAGNITUDE = f"values beyond +-{MAX_MAGNITUDE:g} (sums and products of them would overflow)"
SURVEY_RULE = "score out of range for its kind (nps 0-10, csat 1-5, ces 1-7)"


def unparsed(table: str, col: ColumnSpec, date_format: str | None = None) -> str:
    """What is wrong with values of ``col`` that do not convert to its kind."""
    key = f'input.formats."{table}.{col.name}"'
    stamps = (
        f"timestamps not in the format {date_format!r} ({key} in the settings)"
        if date_format
        else "unparseable timestamps: not ISO 8601 (2025-02-10, 2025-02-10 14:30 or 2025-02-10T14:30:00Z); "
        f"another format needs {key}"
    )
    return {
        Kind.TIMESTAMP: stamps,
        Kind.FLOAT: "NaN, infinite or non-numeric values",
        Kind.INT: "non-integer, NaN, infinite or non-numeric values",
    }.get(col.kind, "unconvertible values")
