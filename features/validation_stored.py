"""The contract's rules on tables left in storage, as engine queries where they lie.

The rules are those :mod:`features.validation` runs with pandera on pandas frames, built from
the same declarations of :mod:`features.contract`, with the same one-line messages. Each table
is scanned once for the count of every rule (and its row count and time range); only a rule
that fails is asked for its first five rows. The queries run on DuckDB, or on Spark for tables
only Spark reads (:mod:`features.spark_source`): the same SQL, quoted for either. A rule with
a subquery is counted on its own, with ``WHERE``, because Spark allows no subquery inside an
aggregate. The typed view of :mod:`features.source` keeps
each source value beside its converted one, so a value that did not convert is found as
"present in the source, null once converted", exactly what the pandas loader reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from features import messages
from features.contract import (
    ACCOUNT_REFERENCES,
    FUTURE_TOLERANCE_DAYS,
    MAX_MAGNITUDE,
    SURVEY_RANGES,
    TABLE_SPECS,
    Kind,
    TableSpec,
)
from features.errors import MAX_EXAMPLES, Problem, Severity
from features.source import RAW, ROW, QueryEngine, Stored, query_engine
from features.times import stamp_from_micros, to_micros

MAX = f"{MAX_MAGNITUDE:.0f}"


@dataclass(frozen=True)
class Rule:
    """One check: rows where ``bad`` (SQL on the validation view) holds break it."""

    column: str | None  # named in the message
    shown: tuple[str, ...]  # columns shown in the example rows
    message: str
    bad: str
    severity: Severity = "error"
    raw: bool = False  # examples show the source values (of values that did not convert), else the converted ones
    alone: bool = False  # ``bad`` holds a subquery: counted in a query of its own


@dataclass(frozen=True)
class StoredSummary:
    rows: int
    first: pd.Timestamp | None
    last: pd.Timestamp | None


def column_rules(spec: TableSpec, stored: Stored, engine: QueryEngine) -> list[Rule]:
    """Conversion, null, range, magnitude and allowed-value rules of every present column."""
    rules: list[Rule] = []
    checks: list[Rule] = []
    q = engine.q
    for col in spec.columns:
        if col.name not in stored.columns:
            continue
        raw, typed = q(RAW + col.name), q(col.name)
        if col.kind in (Kind.TIMESTAMP, Kind.FLOAT, Kind.INT):
            unparsed = f"{raw} IS NOT NULL AND {typed} IS NULL"
            fmt = stored.formats.get(col.name)
            if col.kind is Kind.INT:
                huge = f"coalesce(abs(TRY_CAST(CAST({raw} AS {engine.text}) AS DOUBLE)) > {MAX}, false)"
                rules.append(
                    Rule(
                        col.name,
                        (col.name,),
                        messages.unparsed(spec.name, col, fmt),
                        f"{unparsed} AND NOT {huge}",
                        raw=True,
                    )
                )
                rules.append(Rule(col.name, (col.name,), messages.TOO_LARGE, f"{unparsed} AND {huge}", raw=True))
            else:
                rules.append(Rule(col.name, (col.name,), messages.unparsed(spec.name, col, fmt), unparsed, raw=True))
        if not col.nullable:
            checks.append(Rule(col.name, (col.name,), "null values in a required column", f"{raw} IS NULL"))
        if spec.unique_key == col.name:
            dupes = f"SELECT {typed} FROM v GROUP BY 1 HAVING count(*) > 1"
            checks.append(
                Rule(col.name, (col.name,), "duplicate values in a unique key", f"{typed} IN ({dupes})", alone=True)
            )
        if col.min_value is not None:
            low = col.min_value
            name = "negative values" if low == 0 else f"values below {low:g}"
            checks.append(Rule(col.name, (col.name,), name, f"{typed} < {low!r}"))
        if col.max_value is not None:
            checks.append(
                Rule(col.name, (col.name,), f"values above {col.max_value:g}", f"{typed} > {col.max_value!r}")
            )
        if col.kind in (Kind.FLOAT, Kind.INT):
            checks.append(Rule(col.name, (col.name,), messages.MAGNITUDE, f"abs({typed}) > {MAX}"))
        if col.allowed is not None:
            values = ", ".join("'" + v.replace("'", "''") + "'" for v in col.allowed)
            checks.append(
                Rule(col.name, (col.name,), f"values not in {{{', '.join(col.allowed)}}}", f"{typed} NOT IN ({values})")
            )
    for earlier, later in spec.ordered_pairs:
        if {earlier, later} <= set(stored.columns):
            checks.append(Rule(later, (later, earlier), f"{later} before {earlier}", f"{q(later)} < {q(earlier)}"))
    if spec.name == "surveys" and {"kind", "score"} <= set(stored.columns):
        out = " OR ".join(
            f"({q('kind')} = '{kind}' AND NOT ({q('score')} BETWEEN {low!r} AND {high!r}))"
            for kind, (low, high) in SURVEY_RANGES.items()
        )
        checks.append(Rule("score", ("score", "kind"), messages.SURVEY_RULE, out))
    return rules + checks


def _examples(engine: QueryEngine, view: str, spec: TableSpec, rule: Rule, stored: Stored) -> tuple:
    keys = [c.name for c in spec.columns if c.kind is Kind.ID and c.required] + list(rule.shown)
    keys = [k for k in dict.fromkeys(keys) if k in stored.columns]
    cols = ", ".join([ROW, *[engine.q(RAW + k) if rule.raw else engine.q(k) for k in keys]])
    got = engine.rows(f"SELECT {cols} FROM {engine.q(view)} WHERE {rule.bad} ORDER BY {ROW} LIMIT {MAX_EXAMPLES}")
    shown = [(k, not rule.raw and spec.column(k).kind is Kind.TIMESTAMP) for k in keys]
    return tuple(
        {
            **({} if r[0] is None else {"row": int(r[0]) + 1}),  # a table without row order has no row number
            **{k: stamp_from_micros(v) if stamp else v for (k, stamp), v in zip(shown, r[1:], strict=True)},
        }
        for r in got
    )


def _check(engine: QueryEngine, view: str, spec: TableSpec, stored: Stored, rules: list[Rule]) -> list[Problem]:
    if not rules:
        return []
    # The duplicate rule's subquery reads "v": the table's own view under that name.
    engine.rows(f"CREATE OR REPLACE TEMPORARY VIEW v AS SELECT * FROM {engine.q(view)}")
    together = [r for r in rules if not r.alone]  # one scan counts them all
    counts: dict[Rule, int] = {}
    if together:
        found = engine.rows("SELECT " + ", ".join(f"count_if({r.bad})" for r in together) + " FROM v")[0]
        counts.update(zip(together, found, strict=True))
    for rule in rules:
        if rule.alone:
            counts[rule] = engine.rows(f"SELECT count(*) FROM v WHERE {rule.bad}")[0][0]
    problems = []
    for rule in rules:
        if counts[rule]:
            rows = _examples(engine, "v", spec, rule, stored)
            problems.append(Problem(spec.name, rule.column, rule.message, int(counts[rule]), rows, rule.severity))
    return problems


def stored_problems(stored: dict[str, Stored], end: pd.Timestamp | None, now: datetime) -> list[Problem]:
    """Every rule of every stored table, then unknown accounts, then the warnings."""
    with query_engine(stored.values()) as engine:
        for name, table in stored.items():
            engine.view(f"check_{name}", table, True)
        problems: list[Problem] = []
        for name, table in stored.items():
            spec = TABLE_SPECS[name]
            if spec.required and table.rows == 0:
                problems.append(Problem(name, None, "required table is empty"))
            problems += _check(engine, f"check_{name}", spec, table, column_rules(spec, table, engine))
        problems += _unknown_accounts(engine, stored)
        problems += _warnings(engine, stored, end, now)
    return problems


def _unknown_accounts(engine: QueryEngine, stored: dict[str, Stored]) -> list[Problem]:
    if "accounts" not in stored or "account_id" not in stored["accounts"].columns:
        return []
    q = engine.q
    known = f"SELECT {q('account_id')} FROM check_accounts WHERE {q('account_id')} IS NOT NULL"
    problems = []
    for name, table in stored.items():
        if name == "accounts":
            continue
        rules = [
            Rule(c, (c,), f"{c} not found in accounts", f"{q(c)} IS NOT NULL AND {q(c)} NOT IN ({known})", alone=True)
            for c in ACCOUNT_REFERENCES.get(name, ("account_id",))
            if c in table.columns
        ]
        problems += _check(engine, f"check_{name}", TABLE_SPECS[name], table, rules)
    return problems


def _warnings(engine: QueryEngine, stored: dict[str, Stored], end: pd.Timestamp | None, now: datetime) -> list[Problem]:
    problems: list[Problem] = []
    if end is not None:
        limit = min(end + pd.Timedelta(days=FUTURE_TOLERANCE_DAYS), pd.Timestamp(now))
        cut = to_micros(limit)
        for name, table in stored.items():
            column = TABLE_SPECS[name].time_column
            if column is None or column not in table.columns:
                continue
            message = f"rows dated after the newest usage event ({end:%Y-%m-%d %H:%M})"
            rule = Rule(column, (column,), message, f"{engine.q(column)} > {cut}", "warning")
            problems += _check(engine, f"check_{name}", TABLE_SPECS[name], table, [rule])
    accounts, usage = stored.get("accounts"), stored.get("usage_events")
    if (
        accounts is not None
        and usage is not None
        and "account_id" in usage.columns
        and "account_id" in accounts.columns
    ):
        key = engine.q("account_id")
        used = f"SELECT {key} FROM check_usage_events WHERE {key} IS NOT NULL"
        message = "accounts with no usage events"
        rule = Rule("account_id", (), message, f"{key} NOT IN ({used})", "warning", alone=True)
        problems += _check(engine, "check_accounts", TABLE_SPECS["accounts"], accounts, [rule])
    return problems


def summaries(stored: dict[str, Stored]) -> dict[str, StoredSummary]:
    """Rows and time range of each stored table (one scan of its time column)."""
    out = {}
    with query_engine(stored.values()) as engine:
        for name, table in stored.items():
            column = TABLE_SPECS[name].time_column
            if column is None or column not in table.columns:
                out[name] = StoredSummary(table.rows, None, None)
                continue
            engine.view("s", table, False)
            low, high = engine.rows(f"SELECT min({engine.q(column)}), max({engine.q(column)}) FROM s")[0]
            out[name] = StoredSummary(table.rows, stamp_from_micros(low), stamp_from_micros(high))
    return out
