"""Point-in-time account signals for many snapshot dates, written once in ibis.

``build_features`` returns one row per (account_id, as_of) for every account created
strictly before as_of, with every available signal of :mod:`features.signals`, in
registry order. Only source rows dated strictly before as_of are used; a row exactly
at as_of belongs to the future.

Conventions (the pandas oracle in ``tests/pandas_oracle.py`` follows the same ones):
    * A window of n days is ``[as_of - n days, as_of)``.
    * Missing is not zero: an account that never answered a survey has a null NPS. But
      a count over a window with no rows is 0 whenever its source table exists.
    * Signals whose table or columns are absent are skipped and listed in
      ``FeatureSet.skipped`` with the reason.
    * Output: ``account_id`` (string), ``as_of`` (datetime64[us, UTC]), then the signals
      as float64 (NaN when missing), sorted by as_of then account_id.

All snapshot dates are computed in one query: sources are range-joined to the small
table of dates instead of being scanned once per date.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TypeAlias

import ibis
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa
from ibis.backends import BaseBackend

from features.atomic_write import atomic_file, atomic_folder
from features.builders_crm import (
    financial_parts,
    relationship_parts,
    sentiment_parts,
    support_parts,
)
from features.builders_text import referral_parts, text_parts
from features.builders_usage import dedupe_events, usage_parts
from features.builders_vocab import key_events_absent, resolve_vocabulary, vocabulary_formulas, vocabulary_parts
from features.config import FeatureConfig
from features.engine import connect, engine_for, register_frame, register_tables
from features.loader import Dataset
from features.rules import spine as snapshot_spine
from features.signals import KEY_EVENT_SIGNALS, SIGNALS_BY_NAME, TEXT_SIGNALS, Signal, SkippedSignal, split_available
from features.texts import TEXTS, engine_columns, present_columns, text_rows
from features.times import MICROS_PER_DAY, from_micros, micros_list, utc
from features.windows import DAY, Part, attach_parts, periods_table

AsOf: TypeAlias = date | datetime | pd.Timestamp | str
Progress = Callable[[str], None]


@dataclass(frozen=True)
class FeatureSet:
    """The signals of one run and what was left out.

    Attributes:
        frame: account_id, as_of, then one float64 column per computed signal.
        signals: the computed signals, in column order.
        skipped: signals left out because a table or column is absent, with reasons.
    """

    frame: pd.DataFrame
    signals: tuple[Signal, ...]
    skipped: tuple[SkippedSignal, ...] = field(default=())

    @property
    def signal_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.signals)


def to_timestamps(as_of: Sequence[AsOf]) -> list[pd.Timestamp]:
    """Sorted, distinct snapshot dates as UTC timestamps (naive values are taken as UTC)."""
    stamps = {utc(x) for x in as_of}
    return sorted(s.as_unit("us") for s in stamps)


def monthly_as_of(start: AsOf, end: AsOf) -> list[pd.Timestamp]:
    """The first day of every month from ``start`` to ``end`` (both included), at 00:00 UTC."""
    first, last = to_timestamps([start])[0], to_timestamps([end])[0]
    months = pd.date_range(first.normalize().replace(day=1), last, freq="MS", tz="UTC")
    return [m.as_unit("us") for m in months if first <= m <= last]


def build_features(
    dataset: Dataset,
    as_of: Sequence[AsOf],
    *,
    engine: str = "duckdb",
    config: FeatureConfig = FeatureConfig(),  # noqa: B008 - frozen, so safe as a default
    progress: Progress | None = None,
    con: BaseBackend | None = None,
) -> FeatureSet:
    """Compute every available signal for every account and snapshot date.

    Args:
        dataset: the typed tables (see :func:`features.loader.load_dataset`).
        as_of: snapshot dates; dates and naive datetimes are taken as UTC.
        engine: "duckdb" (default) or "spark"; ignored when ``con`` is given.
        config: key events, windows, engagement weights.
        progress: called with a short message at each step.
        con: an ibis backend to reuse (tests reuse one DuckDB connection).
    """
    query = _prepare(dataset, as_of, engine, config, progress, con)
    try:
        if query.con.name != "duckdb" or account_batches(dataset) == 1:
            frame = _run(query.con, query.sql)
        else:  # the slices' results are small (a row per account and date); their inputs are not
            with tempfile.TemporaryDirectory(prefix="churn-slices-") as scratch:
                con = query.con.con
                parts = [con.sql(sql).to_arrow_table() for sql in sliced_queries(query, dataset, Path(scratch))]
                frame = pa.concat_tables(parts).to_pandas()
    finally:
        query.release()
    query.say(f"computed {len(frame)} rows")
    return FeatureSet(_finish_frame(frame, query.signals), query.signals, query.skipped)


def write_features(
    dataset: Dataset,
    as_of: Sequence[AsOf],
    out: Path | str,
    *,
    engine: str = "duckdb",
    config: FeatureConfig = FeatureConfig(),  # noqa: B008 - frozen, so safe as a default
    progress: Progress | None = None,
) -> FeatureOutput:
    """The same signals as :func:`build_features`, written by the engine straight to Parquet.

    No row passes through pandas, so memory does not grow with the number of accounts and
    dates: DuckDB streams the sorted result into one file (a temporary file, then renamed);
    Spark writes a folder of part files at ``out`` (also renamed into place), which pandas,
    pyarrow and DuckDB read as one table.
    """
    query = _prepare(dataset, as_of, engine, config, progress, None)
    out = Path(out)
    order = "ORDER BY as_of, account_id"
    if query.con.name == "duckdb":
        cols = ", ".join(["account_id", "make_timestamp(as_of)::TIMESTAMPTZ AS as_of", *_quoted(query.signals)])
        batches = account_batches(dataset)
        with atomic_file(out) as tmp, tempfile.TemporaryDirectory(prefix=".features-", dir=out.parent) as parts:
            con = query.con.con
            if batches == 1:
                source = f"({query.sql})"
            else:  # one query per slice of the accounts, each within DuckDB's memory cap, then one sort
                for i, sql in enumerate(sliced_queries(query, dataset, Path(parts))):
                    part = Path(parts) / f"part-{i:04d}.parquet"
                    con.execute(f"COPY (SELECT * FROM ({sql})) TO '{_escaped(part)}' (FORMAT parquet)")  # noqa: S608
                source = f"read_parquet('{_escaped(Path(parts))}/part-*.parquet')"
            copy = f"COPY (SELECT {cols} FROM {source} {order}) TO '{_escaped(tmp)}' (FORMAT parquet)"  # noqa: S608
            rows = int(con.execute(copy).fetchall()[0][0])  # COPY answers with the rows written
    else:
        cols = ", ".join(["account_id", "timestamp_micros(as_of) AS as_of", *_quoted(query.signals, "`")])
        session = query.con._session
        session.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")  # UTC instants, not INT96
        result = session.sql(f"SELECT {cols} FROM ({query.sql}) {order}")  # noqa: S608 - compiled query
        try:
            with atomic_folder(out) as tmp:
                result.write.mode("overwrite").parquet(tmp.resolve().as_uri())
        finally:
            query.release()
        rows = int(session.read.parquet(out.resolve().as_uri()).count())
    query.say(f"wrote {rows} rows")
    return FeatureOutput(out, rows, query.signals, query.skipped)


@dataclass(frozen=True)
class FeatureOutput:
    """Where :func:`write_features` wrote the signals, how many rows, and what was left out."""

    path: Path
    rows: int
    signals: tuple[Signal, ...]
    skipped: tuple[SkippedSignal, ...] = field(default=())


def _quoted(signals: Sequence[Signal], quote: str = '"') -> list[str]:
    # Registry names are letters, digits and underscores. The cast is explicit because ibis
    # leaves out casts to a type it believes a value has, and Spark may hold it as a DECIMAL.
    return [f"CAST({quote}{s.name}{quote} AS DOUBLE) AS {quote}{s.name}{quote}" for s in signals]


def _escaped(path: Path) -> str:
    return path.as_posix().replace("'", "''")


EVENTS_PER_BATCH = 20_000_000  # measured: 57 M events in one query fit DuckDB's 1 GB cap, 189 M did not


def account_batches(dataset: Dataset) -> int:
    """How many slices of the accounts `write_features` computes apart (one per 20 M stored events)."""
    stored = dataset.stored.get("usage_events")
    return max(1, -(-stored.rows // EVENTS_PER_BATCH)) if stored is not None else 1


def slice_of(table: ir.Table, name: str, n: int) -> ir.IntegerValue:
    """Which of ``n`` slices of the accounts each row's account falls in."""
    key = table["referrer_account_id" if name == "referrals" else "account_id"]
    return (key.hash() % n + n) % n  # ibis' hash is signed: a remainder may be negative


def in_batch(table: ir.Table, name: str, batch: tuple[int, int]) -> ir.Table:
    """The rows of ``table`` whose account falls in slice ``batch`` = (i, n) of the accounts."""
    i, n = batch
    return table.filter(slice_of(table, name, n) == i)


SPLIT_ROWS = EVENTS_PER_BATCH // 10  # a stored table this big is split by slice once, not rescanned per slice


def split_by_slice(query: _Query, dataset: Dataset, n: int, folder: Path) -> dict[str, Path]:
    """Write each big stored table once into ``folder``, one Parquet partition per slice, so that
    a slice's query reads its own rows instead of scanning every row again. Returns the view
    name of each split table and its folder; :func:`read_slice` points the views at one slice."""
    con = query.con.con
    split: dict[str, Path] = {}
    for name, stored in dataset.stored.items():
        if name not in query.tables or (stored.rows <= SPLIT_ROWS and name != "usage_events"):
            continue
        table = query.tables[name]
        view, target = table.get_name(), folder / name
        query.say(f"{name}: splitting {stored.rows:,} rows into {n} slices of the accounts")
        sql = query.con.compile(table.mutate(__slice=slice_of(table, name, n)))
        target.parent.mkdir(parents=True, exist_ok=True)
        con.execute(f"COPY ({sql}) TO '{_escaped(target)}' (FORMAT parquet, PARTITION_BY (__slice))")
        for i in range(n):  # a slice without rows still needs a file of the table's columns
            if not (target / f"__slice={i}").exists():
                (target / f"__slice={i}").mkdir(parents=True)
                empty = target / f"__slice={i}" / "empty.parquet"
                none = f"SELECT * FROM {_ident(view)} LIMIT 0"  # noqa: S608 - a view of our own
                con.execute(f"COPY ({none}) TO '{_escaped(empty)}' (FORMAT parquet)")
        split[view] = target
    return split


def sliced_queries(query: _Query, dataset: Dataset, scratch: Path) -> Iterator[str]:
    """The DuckDB query of each slice of the accounts (:func:`account_batches`), each within the
    memory cap; the big tables are split once under ``scratch``, and each query is valid only
    until the next one is asked for (the views move on to the next slice)."""
    batches = account_batches(dataset)
    split = split_by_slice(query, dataset, batches, scratch / "split")
    for i in range(batches):
        query.say(f"accounts, batch {i + 1} of {batches}")
        read_slice(query.con, split, i)
        yield query.sql_for((i, batches))


def read_slice(con: BaseBackend, split: dict[str, Path], i: int) -> None:
    """Point each split table's view at slice ``i`` of its rows."""
    for view, target in split.items():
        files = _escaped(target / f"__slice={i}")
        con.con.execute(
            f"CREATE OR REPLACE TEMP VIEW {_ident(view)} AS "  # noqa: S608 - paths and names of our own
            f"SELECT * FROM read_parquet('{files}/*.parquet', hive_partitioning = false)"
        )


def _nothing() -> None:
    """Nothing to free."""


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class _Query:
    """A feature query compiled for one engine, with its signals and skipped signals."""

    con: BaseBackend
    sql: str
    signals: tuple[Signal, ...]
    skipped: tuple[SkippedSignal, ...]
    say: Progress
    tables: dict[str, ir.Table]
    config: FeatureConfig
    day_grain: bool
    release: Callable[[], None]  # frees what the engine keeps for the query

    def sql_for(self, batch: tuple[int, int]) -> str:
        """The query for one slice of the accounts: every signal of an account reads only its own rows."""
        data = {n: t if n in ("dates", "periods") else in_batch(t, n, batch) for n, t in self.tables.items()}
        return str(
            self.con.compile(
                features_expr(data, data["dates"], data["periods"], self.signals, self.config, day_grain=self.day_grain)
            )
        )


def _prepare(
    dataset: Dataset,
    as_of: Sequence[AsOf],
    engine: str,
    config: FeatureConfig,
    progress: Progress | None,
    con: BaseBackend | None,
) -> _Query:
    say = progress or (lambda _msg: None)
    if not dataset.has("accounts", "account_id") or not dataset.has("accounts", "created_at"):
        raise ValueError("accounts table with account_id and created_at is required to build features")
    stamps = to_timestamps(as_of)
    if not stamps:
        raise ValueError("as_of must hold at least one snapshot date")
    config = resolve_vocabulary(dataset, config, max(stamps))
    signals, skipped = available_signals(dataset, config, max(stamps))
    con = con or connect(engine_for(dataset, engine))
    say(f"registering {len(dataset.tables)} tables on {con.name}")
    tables = register_tables(con, dataset)
    release = _nothing
    if con.name == "pyspark" and "usage_events" in tables:
        tables["usage_events"], release = spark_events_once(con, tables["usage_events"])
    if TEXTS in present_columns(dataset) and any(s.name in TEXT_SIGNALS for s in signals):
        say("scoring the sentiment of comments and notes")
        tables[TEXTS] = register_frame(con, "pit_texts", engine_columns(text_rows(dataset, config)))
    micros = micros_list(stamps)
    dates = register_frame(con, "pit_dates", {"as_of": pd.Series(micros, dtype="int64")})
    periods = register_frame(
        con,
        "pit_periods",
        {k: pd.Series(v, dtype="int64") for k, v in periods_table(micros).items()},
    )
    day_grain = all(m % MICROS_PER_DAY == 0 for m in micros)
    say(f"computing {len(signals)} signals for {len(stamps)} snapshot dates")
    everything = {**tables, "dates": dates, "periods": periods}
    sql = _compiled(con, everything, signals, config, day_grain)
    return _Query(con, sql, tuple(signals), tuple(skipped), say, everything, config, day_grain, release)


SPARK_EVENTS = "pit_usage_events_once"


def spark_events_once(con: BaseBackend, events: ir.Table) -> tuple[ir.Table, Callable[[], None]]:
    """On Spark, the usage events deduplicated once and kept by Spark (in memory, spilling to
    disk), with the function that lets them go.

    Spark computes a shared subquery again at every reference, and the feature query reads the
    events in eight places, each grouping every event by ``event_id``: once instead of eight
    times made `churn features` for one date on 1,500 accounts x 24 months 30% faster. Without
    ``event_id`` the builders' own deduplication has nothing left to do. DuckDB reads the
    events where they lie instead, since it shares the scans itself and must not hold them.
    """
    if "event_id" not in events.columns:
        return events, _nothing
    once = con.raw_sql(str(con.compile(dedupe_events(events).drop("event_id")))).persist()
    once.createOrReplaceTempView(SPARK_EVENTS)

    def release() -> None:
        con._session.catalog.dropTempView(SPARK_EVENTS)
        once.unpersist()

    return con.table(SPARK_EVENTS), release


def available_signals(
    dataset: Dataset, config: FeatureConfig, before: pd.Timestamp
) -> tuple[tuple[Signal, ...], tuple[SkippedSignal, ...]]:
    """The signals this dataset and config can give, and the skipped ones with the reason.

    ``config.event_types`` must be resolved (:func:`features.builders_vocab.resolve_vocabulary`).
    Key-event signals are skipped when no key events are configured, and when none of the
    configured ones occurs before ``before`` (the newest as_of): never computed on names the
    data does not have.
    """
    signals, skipped = split_available(present_columns(dataset), config)
    reason = key_events_absent(dataset, config, before)
    if reason is None:
        return signals, skipped
    keyed = [s for s in signals if s.name in KEY_EVENT_SIGNALS]
    return (
        tuple(s for s in signals if s.name not in KEY_EVENT_SIGNALS),
        skipped + tuple(SkippedSignal(s.name, reason) for s in keyed),
    )


_SQL_CACHE: dict[tuple[object, ...], str] = {}
_SQL_CACHE_SIZE = 256


def _compiled(
    con: BaseBackend,
    tables: dict[str, ir.Table],
    signals: Sequence[Signal],
    config: FeatureConfig,
    day_grain: bool,
) -> str:
    """The query's SQL, compiled once per dialect, table schemas, signals and config.

    Tables are registered under fixed names, so the SQL depends on nothing else; building
    and compiling the ibis expression costs far more than running it on small data.
    """
    shapes = tuple((n, tuple(t.schema().items())) for n, t in sorted(tables.items()))
    key = (con.name, shapes, tuple(s.name for s in signals), config, day_grain)
    if key not in _SQL_CACHE:
        data = {n: t for n, t in tables.items() if n not in ("dates", "periods")}
        expr = features_expr(data, tables["dates"], tables["periods"], signals, config, day_grain=day_grain)
        if len(_SQL_CACHE) >= _SQL_CACHE_SIZE:
            _SQL_CACHE.clear()
        _SQL_CACHE[key] = str(con.compile(expr))
    return _SQL_CACHE[key]


def _run(con: BaseBackend, sql: str) -> pd.DataFrame:
    """Run compiled SQL on the backend's own connection and return a pandas frame."""
    if con.name == "duckdb":
        return con.con.sql(sql).to_arrow_table().to_pandas()
    return con.raw_sql(sql).toPandas()


def features_expr(
    tables: dict[str, ir.Table],
    dates: ir.Table,
    periods: ir.Table,
    signals: Sequence[Signal],
    config: FeatureConfig,
    *,
    day_grain: bool,
) -> ir.Table:
    """The whole computation as one ibis expression: spine, raw parts, derived signals."""
    spine = snapshot_spine(tables["accounts"], dates)
    names = {s.name for s in signals}
    parts = _parts(tables, dates, periods, names, config, day_grain)
    derived = derive(attach_parts(spine, parts), names, config)
    return derived.select("account_id", "as_of", *[derived[s.name].cast("float64") for s in signals])


def _parts(
    tables: dict[str, ir.Table],
    dates: ir.Table,
    periods: ir.Table,
    names: set[str],
    config: FeatureConfig,
    day_grain: bool,
) -> list[Part]:
    groups = _groups(names)
    parts: list[Part] = []
    if "usage" in groups or "engagement" in groups:
        parts += usage_parts(tables["usage_events"], dates, periods, config, day_grain)
    if names & set(vocabulary_formulas(config)):
        parts += vocabulary_parts(tables["usage_events"], dates, periods, config, day_grain, names)
    if "support" in groups:
        parts += support_parts(tables["support_tickets"], dates, config)
    if "sentiment" in groups:
        surveys = tables["surveys"]
        parts += sentiment_parts(surveys.filter(surveys.score.notnull()), dates, config)
    if "financial" in groups or "licence_utilisation" in names:
        parts += financial_parts(tables.get("subscriptions"), tables.get("invoices"), dates, config)
    if "relationship" in groups:
        parts += relationship_parts(tables["csm_inputs"], dates)
    if names & set(TEXT_SIGNALS):
        parts += text_parts(tables[TEXTS], dates)
    if "referrals_365d" in names:
        parts += referral_parts(tables["referrals"], dates)
    return parts


# Signals with their own source: they do not pull in their group's tables.
_OWN_SOURCE = {"tenure_days", "referrals_365d", *TEXT_SIGNALS}


def _groups(names: set[str]) -> set[str]:
    return {SIGNALS_BY_NAME[n].group for n in names if n not in _OWN_SOURCE}


def _ratio(num: ir.NumericValue, den: ir.NumericValue) -> ir.NumericValue:
    """``num / den``, null when ``den`` is 0 or null (Spark's ANSI mode forbids x / 0)."""
    return num.cast("float64") / den.cast("float64").nullif(0)


def _since(t: ir.Table, column: str) -> ir.NumericValue:
    return (t.as_of - t[column]) / DAY


def derive(t: ir.Table, names: set[str], config: FeatureConfig) -> ir.Table:
    """Signals from the raw columns; only the signals in ``names`` are added."""
    n_key = max(1, len(dict.fromkeys(config.key_events)))
    formulas: dict[str, Callable[[ir.Table], ir.Value]] = {
        "active_users_7d": lambda r: r._au_7d,
        "active_users_30d": lambda r: r._au_30d,
        "active_users_90d": lambda r: r._au_90d,
        "active_users_trend": lambda r: _ratio(r._au_30d - r._au_prev_30d, r._au_prev_30d),
        "licence_utilisation": lambda r: _ratio(r._au_30d, r._seats),
        "active_days_30d": lambda r: r._active_days_30d,
        "features_used_30d": lambda r: r._features_30d,
        "key_feature_adoption": lambda r: r._key_events_30d / float(n_key),
        "key_feature_users_share": lambda r: _ratio(r._key_users_30d, r._au_30d),
        "days_since_last_activity": lambda r: _since(r, "_last_activity"),
        "time_to_value_days": lambda r: (r._first_key - r.created_at) / DAY,
        "tickets_30d": lambda r: r._tickets_30d,
        "tickets_90d": lambda r: r._tickets_90d,
        "open_tickets": lambda r: r._open_tickets,
        "open_high_priority_tickets": lambda r: r._open_high,
        "avg_handle_time_hours": lambda r: r._handle_hours,
        "first_contact_resolution_rate": lambda r: r._fcr,
        "ticket_trend": lambda r: r._tickets_30d - r._tickets_prev_30d,
        "support_csat": lambda r: r._support_csat,
        "nps_latest": lambda r: r._nps_latest,
        "nps": lambda r: r._nps,
        "nps_trend": lambda r: r._nps - r._nps_prev,
        "csat_score": lambda r: r._csat_share,
        "effort_score": lambda r: r._effort,
        "days_since_last_survey": lambda r: _since(r, "_last_survey"),
        "survey_responses_180d": lambda r: r._responses,
        "arr": lambda r: r._arr,
        "arr_change_90d": lambda r: _ratio(r._arr - r._arr_90, r._arr_90),
        "arr_change_180d": lambda r: _ratio(r._arr - r._arr_180, r._arr_180),
        "overdue_amount": lambda r: r._overdue_amount,
        "max_days_overdue": lambda r: r._max_days_overdue,
        "days_to_renewal": lambda r: (r._renewal_end - r.as_of) / DAY,
        "days_since_last_renewal": lambda r: _since(r, "_last_renewal"),
        "tenure_days": lambda r: _since(r, "created_at"),
        "plan_changes": lambda r: r._plan_changes,
        "csm_sentiment": lambda r: r._csm_sentiment,
        "days_since_csm_input": lambda r: _since(r, "_last_csm"),
        **vocabulary_formulas(config),
        "comment_sentiment_90d": lambda r: r._sentiment_90d,
        "comment_sentiment_180d": lambda r: r._sentiment_180d,
        "negative_comment_share_180d": lambda r: r._negative_share,
        "days_since_negative_comment": lambda r: _since(r, "_last_negative"),
        "risk_phrases_90d": lambda r: r._risk_90d,
        "referrals_365d": lambda r: r._referrals_365d,
    }
    t = t.mutate(**{n: f(t).cast("float64") for n, f in formulas.items() if n in names})
    if "engagement_score" in names:
        t = t.mutate(engagement_score=engagement_expr(t, names, config))
    return t


def engagement_expr(t: ir.Table, names: set[str], config: FeatureConfig) -> ir.Value:
    """0-100: each available activity earns ``weight * clip(value / target, 0, 1)``.

    Weights are rescaled to sum to 100 over the activities whose signals exist in this
    run; a null activity value earns nothing.
    """
    activities = [a for a in config.engagement_activities if a.signal in names]
    total = sum(a.weight for a in activities)
    if total <= 0:
        return ibis.null("float64")
    score: ir.NumericValue = ibis.literal(0.0)
    for a in activities:
        value = t[a.signal].fill_null(0.0)
        if a.target > 0:
            share = ibis.greatest(ibis.least(value / a.target, 1.0), 0.0)
        else:
            share = (value > 0).cast("float64")
        score = score + share * (a.weight * 100.0 / total)
    return score


def _finish_frame(frame: pd.DataFrame, signals: Sequence[Signal]) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "account_id": frame["account_id"].astype("string"),
            "as_of": from_micros(frame["as_of"].astype("int64")),
        }
    )
    for s in signals:
        out[s.name] = frame[s.name].astype("float64")
    return out.sort_values(["as_of", "account_id"], kind="stable").reset_index(drop=True)
