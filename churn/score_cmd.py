"""`churn score`: score every eligible account at a date, explain it, write scores and a CRM file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from churn.config_cmd import DATA_HELP, ConfigOption, data_location, open_data, scoring_settings, start_engine
from churn.console import console, err_console, fail, parse_date, progress_bar, user_errors

# Start-up time: the stages (features, training, serving) are imported inside the commands that use
# them. `churn --help` takes 2-3 s; importing the stages' modules takes 30-60 s more on the shared
# 2-core machine (measured 2026-12-02), and `churn serve` must refuse a busy port before that.
if TYPE_CHECKING:  # pandas loads in about a second: only the commands that use it import it
    import pandas as pd


def score(
    data: Annotated[str, typer.Option(help=DATA_HELP)],
    model: Annotated[Path, typer.Option(help="Model folder written by `churn train`.")],
    out: Annotated[Path, typer.Option(help="Scores file: .parquet (default format), .csv or .duckdb.")],
    as_of: Annotated[
        str, typer.Option("--as-of", help="Scoring date, YYYY-MM-DD, or 'latest' (the day the data ends).")
    ] = "latest",
    table: Annotated[str, typer.Option(help="Table name when --out is a DuckDB file.")] = "scores",
    previous: Annotated[Path | None, typer.Option(help="An earlier scores file: fills health_trend.")] = None,
    crm_out: Annotated[Path | None, typer.Option(help="Full CRM export (CSV, one row per account).")] = None,
    crm_changes: Annotated[
        Path | None, typer.Option(help="Also write only the rows that changed since the CRM export at --crm-out.")
    ] = None,
    crm_mapping: Annotated[Path | None, typer.Option(help="CRM field mapping (YAML/JSON: field -> source).")] = None,
    lang: Annotated[str, typer.Option(help="Language of the flag sentences: en or tr.")] = "en",
    engine: Annotated[str, typer.Option(help="duckdb (embedded) or spark.")] = "duckdb",
    top_k: Annotated[int, typer.Option(min=1, max=10, help="Red and green flags per account.")] = 3,
    history: Annotated[
        Path | None,
        typer.Option(help="Score history (DuckDB file) to add this run to; default: history.duckdb beside --model."),
    ] = None,
    backfill: Annotated[
        str | None,
        typer.Option(help="FROM:TO (YYYY-MM-DD:YYYY-MM-DD): also score past dates point-in-time into the history."),
    ] = None,
    every: Annotated[str, typer.Option(help="Backfill cadence: week or month.")] = "month",
    config: ConfigOption = None,
) -> None:
    """Score accounts with churn/renewal/upsell probabilities, health score and explained red flags."""
    import pandas as pd

    from features.validation import data_end, require_valid
    from features.write_lock import write_locks
    from serving.crm import DEFAULT_MAPPING, load_mapping, write_crm
    from serving.history import default_path, read_history, record
    from serving.history_runs import score_explained
    from serving.outputs import output_format, read_scores, write_scores
    from serving.scorer import Scorer
    from serving.story import Story, crm_change_fields

    if engine not in ("duckdb", "spark"):
        fail(f"--engine must be duckdb or spark, not {engine!r}", 2)
    if lang not in ("en", "tr"):
        fail(f"--lang must be en or tr, not {lang!r}", 2)
    if crm_changes is not None and crm_out is None:
        fail("--crm-changes needs --crm-out (the full export it compares with)", 2)
    # Every output is locked for the whole run (before the model loads), so a second run on the
    # same target refuses at once instead of both writing and the last silently winning.
    with user_errors(), write_locks(out, crm_out, crm_changes):
        output_format(out)
        dates = parse_backfill(backfill, every) if backfill else None
        scorer = Scorer.load(model)
        for line in scorer.bundle.warnings:
            err_console.print(f"[yellow]warning:[/] {line}", highlight=False, soft_wrap=True)
        settings = scoring_settings(scorer.bundle, config)  # the model's; --config may change only [input], [spark]
        start_engine(engine, settings)
        mapping = load_mapping(crm_mapping) if crm_mapping else DEFAULT_MAPPING
        prior = read_scores(previous) if previous else None
        dataset = open_data(data_location(data, engine), settings.input)
        require_valid(dataset)
        if as_of == "latest":
            end = data_end(dataset)
            if end is None:
                fail("the dataset has no dated rows: give --as-of", 2)
            stamp = end.normalize()
        else:
            stamp = pd.Timestamp(parse_date(as_of), tz="UTC")
        if dates is not None:
            stamp = dates[-1]  # the backfill's last date is the run's date: --out and the CRM file hold it
        for day in dates or [stamp]:
            check_as_of(dataset, day, "--backfill" if dates else "--as-of")
        history_file = history or default_path(model)
        scored = None
        for day in dates or [stamp]:
            with progress_bar(f"scoring {day:%Y-%m-%d}") as update:
                scored = score_explained(
                    dataset, scorer, day, engine=engine, lang=lang, top_k=top_k, previous=prior, progress=update
                )
            kept = record(history_file, scored.history_scores, scored.history_details)
            prior = scored.scores
        assert scored is not None
        story = Story(*read_history(history_file), prefer=scorer.version)
        scores = crm_change_fields(story, scored.scores, lang=lang)
        write_scores(scores, out, table=table)
        crm_rows = write_crm(scores, crm_out, mapping=mapping, changes=crm_changes) if crm_out else None
    print_summary(scores, stamp)
    console.print(f"scores: {out.resolve()}")
    console.print(
        f"score history: {history_file.resolve()} ({kept:,} scorings of {len(dates or [stamp])} date(s) in it)"
    )
    if crm_out and crm_rows:
        console.print(f"CRM export: {crm_out.resolve()} ({crm_rows[0]:,} rows)")
        if crm_changes:
            console.print(f"CRM changes since the previous export: {crm_changes.resolve()} ({crm_rows[1]:,} rows)")


def check_as_of(dataset: Any, day: pd.Timestamp, flag: str = "--as-of") -> None:
    """Refuse a scoring date outside the data: before its first activity, or after the day it ends.

    Before the first event every window is empty; after the end, every account looks silent.
    Either would score a history that is not there.
    """
    import pandas as pd

    from features.validation import data_end, data_start

    start, end = data_start(dataset), data_end(dataset)
    if start is not None and day <= start:
        fail(
            f"{flag} {day:%Y-%m-%d} is on or before the data's first activity ({start:%Y-%m-%d}): "
            "there is no history to score",
            2,
        )
    if end is not None and day > end.normalize() + pd.Timedelta(days=1):
        fail(
            f"{flag} {day:%Y-%m-%d} is after the data ends ({end:%Y-%m-%d}): every account would look silent; "
            "use --as-of latest or an earlier date",
            2,
        )


def parse_backfill(text: str, every: str) -> list[pd.Timestamp]:
    """The dates of ``--backfill FROM:TO`` at the ``--every`` cadence."""
    import pandas as pd

    from serving.history_runs import backfill_dates

    start, sep, end = text.partition(":")
    if not sep:
        raise ValueError(f"--backfill must be FROM:TO (e.g. 2025-01-01:2025-06-30), not {text!r}")
    return backfill_dates(pd.Timestamp(parse_date(start), tz="UTC"), pd.Timestamp(parse_date(end), tz="UTC"), every)


def print_summary(scores: pd.DataFrame, as_of: pd.Timestamp) -> None:
    from serving.scorer import band_summary, top_accounts

    total = scores["arr_at_risk"].sum()
    console.print(
        f"{len(scores):,} accounts scored at {as_of:%Y-%m-%d} (model {scores['model_version'].iloc[0] if len(scores) else '-'}); "
        f"ARR at risk: {total:,.0f} of {scores['arr'].sum():,.0f}"
    )
    bands = Table(title="health bands")
    for column in ("band", "accounts", "ARR", "ARR at risk"):
        bands.add_column(column, justify="left" if column == "band" else "right")
    for band, row in band_summary(scores).iterrows():
        bands.add_row(str(band), f"{row['accounts']:,}", f"{row['arr']:,.0f}", f"{row['arr_at_risk']:,.0f}")
    console.print(bands)
    top = Table(title="top 10 accounts by ARR at risk")
    for column in ("account", "segment", "owner", "churn", "health", "ARR at risk", "top actionable red flag"):
        top.add_column(column, justify="right" if column in ("churn", "health", "ARR at risk") else "left")
    for _, row in top_accounts(scores).iterrows():
        # The first reason a CSM can act on; context such as the renewal date comes after.
        reason = next((f["sentence"] for f in row["red_flags"] if f["action"]), "")
        top.add_row(
            str(row["account_id"]),
            _text(row["segment"]),
            _text(row["csm_owner"]),
            f"{row['churn_probability']:.1%}",
            f"{row['health_score']:.0f} {_text(row['health_band'])}",
            f"{row['arr_at_risk']:,.0f}",
            reason,
        )
    console.print(top)


def _text(value: object) -> str:
    import pandas as pd

    return "" if value is None or value is pd.NA or (isinstance(value, float) and value != value) else str(value)
