"""Problems found in input data, and the error raised when a run cannot go on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning"]
MAX_EXAMPLES = 5


@dataclass(frozen=True)
class Problem:
    """One finding: which table and column, what is wrong, and up to five example rows.

    ``rows`` holds the offending rows as small dicts (row number plus identifying
    columns), so a person can find them in the source.
    """

    table: str
    column: str | None
    message: str
    count: int = 0
    rows: tuple[Mapping[str, Any], ...] = field(default=())
    severity: Severity = "error"

    def __str__(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        text = f"{where}: {self.message}"
        if self.count:
            text += f" ({self.count} row{'s' if self.count != 1 else ''})"
        if self.rows:
            text += "; e.g. " + "; ".join(_format_row(r) for r in self.rows)
        return text


def _format_row(row: Mapping[str, Any]) -> str:
    inner = ", ".join(f"{k}={_short(v)}" for k, v in row.items() if k != "row")
    return f"row {row.get('row', '?')} ({inner})" if inner else f"row {row.get('row', '?')}"


def _short(value: Any) -> str:
    if isinstance(value, str):
        text = repr(value)
    elif hasattr(value, "isoformat"):
        text = value.isoformat()
    else:
        text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


class DataError(ValueError):
    """Input data breaks the contract. The message is one line naming table, column and rows."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = tuple(problems)
        first = str(self.problems[0]) if self.problems else "invalid input"
        more = len(self.problems) - 1
        suffix = f" (and {more} more problem{'s' if more != 1 else ''}; run `churn validate`)"
        super().__init__(first + (suffix if more > 0 else ""))
