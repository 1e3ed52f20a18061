"""`churn drift`: has the scored population moved away from what the model was trained on?

Exit codes, for a nightly job to alert on:
    0  every PSI is below --threshold (signals with status ``history`` aside, see serving.drift)
    3  at least one feature (or the churn probability) has a PSI at or above --threshold
    2  bad input (model folder without a reference profile, invalid data, bad flags)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from churn.config_cmd import ConfigOption, scoring_settings, start_engine
from churn.console import console, fail, parse_date, progress_bar, user_errors

# Start-up time: the stages (features, training, serving) are imported inside the commands that use
# them. `churn --help` takes 2-3 s; importing the stages' modules takes 30-60 s more on the shared
# 2-core machine (measured 2026-12-02), and `churn serve` must refuse a busy port before that.
if TYPE_CHECKING:  # pandas loads in about a second: only the commands that use it import it
    import pandas as pd

DRIFT_EXIT = 3
HISTORY_NOTE = "history: a count over 180/365 days or all history; it grows as the data ages, so it never alarms"
STATUS_STYLE = {"ok": "green", "watch": "yellow", "act": "bold red", "n/a": "dim", "history": "dim cyan"}


def drift(
    model: Annotated[Path, typer.Option(help="Model folder written by `churn train` (with reference.json).")],
    data: Annotated[Path, typer.Option(help="Dataset folder (CSV/Parquet per table) or DuckDB file.")],
    as_of: Annotated[
        str, typer.Option("--as-of", help="Scoring snapshot date, YYYY-MM-DD, or 'latest' (the day the data ends).")
    ],
    threshold: Annotated[
        float, typer.Option(min=0.0, help="Exit 3 when any PSI is at or above this (0.1 watch, 0.25 act).")
    ] = 0.25,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the table as JSON to this file.")] = None,
    top: Annotated[int | None, typer.Option(min=1, help="Print only the N largest PSI rows.")] = None,
    engine: Annotated[str, typer.Option(help="Feature engine: duckdb or spark.")] = "duckdb",
    config: ConfigOption = None,
) -> None:
    """Population stability index (PSI) of every model input and of the churn probability, training vs now.

    Exits 3 when any PSI reaches --threshold, 0 otherwise, 2 on bad input. Signals that grow with the
    data's history (status "history") show their PSI but never make it exit 3.
    """
    from features.loader import load_dataset
    from features.validation import require_valid
    from serving.drift import crossed, dataset_drift, reference_of
    from training.model.folder import load_model_folder

    if engine not in ("duckdb", "spark"):
        fail(f"--engine must be duckdb or spark, not {engine!r}", 2)
    with user_errors():
        bundle = load_model_folder(model)
        reference = reference_of(bundle)
        settings = scoring_settings(bundle, config)
        start_engine(engine, settings)
        dataset = load_dataset(data, mapping=settings.input)
        require_valid(dataset)
        stamp = resolve_as_of(as_of, dataset)
        with progress_bar("drift") as update:
            update("building features", 0.2)
            table, accounts = dataset_drift(dataset, bundle, stamp, engine=engine)
            update("done", 1.0)
        if json_out is not None:
            write_json(drift_document(table, bundle.version, stamp, threshold, accounts, reference), json_out)
    print_drift(table, stamp, accounts, reference, top)
    flagged = crossed(table, threshold)
    if json_out is not None:
        console.print(f"drift table: {json_out.resolve()}")
    if len(flagged):
        names = ", ".join(f"{r.feature} {r.psi:.2f}" for r in flagged.itertuples())
        console.print(f"[bold red]drift[/]: {len(flagged)} PSI at or above {threshold:g}: {names}", highlight=False)
        raise typer.Exit(DRIFT_EXIT)
    console.print(f"[green]no drift[/]: every PSI is below {threshold:g}")


def resolve_as_of(text: str, dataset: Any) -> pd.Timestamp:
    """A UTC midnight from YYYY-MM-DD, or the day the data ends for 'latest'."""
    import pandas as pd

    if text != "latest":
        return pd.Timestamp(parse_date(text), tz="UTC")
    from features.validation import data_end

    end = data_end(dataset)
    if end is None:
        fail("the dataset has no dated rows: give --as-of", 2)
    return end.normalize()


def print_drift(
    table: pd.DataFrame, as_of: pd.Timestamp, accounts: int, reference: dict[str, Any], top: int | None = None
) -> None:
    """The drift table, largest PSI first."""
    import pandas as pd

    from serving.drift import HISTORY

    source = reference.get("source", {})
    dates = source.get("as_of", [])
    since = f"{dates[0]} to {dates[-1]}" if dates else "training"
    rows = table.sort_values("psi", ascending=False, na_position="last")
    if top is not None:
        rows = rows.head(top)
    view = Table(
        title=f"PSI at {as_of:%Y-%m-%d} ({accounts:,} accounts) vs the model's reference snapshots {since}",
        caption=HISTORY_NOTE if (rows["status"] == HISTORY).any() else None,
    )
    for column in ("feature", "PSI", "status"):
        view.add_column(column, justify="right" if column == "PSI" else "left")
    for row in rows.itertuples():
        value = "n/a" if pd.isna(row.psi) else f"{row.psi:.3f}"
        view.add_row(row.feature, value, f"[{STATUS_STYLE.get(row.status, '')}]{row.status}[/]")
    console.print(view)


def drift_document(
    table: pd.DataFrame, version: str, as_of: pd.Timestamp, threshold: float, accounts: int, reference: dict[str, Any]
) -> dict[str, Any]:
    import pandas as pd

    from serving.drift import crossed

    rows = table.sort_values("psi", ascending=False, na_position="last")
    return {
        "model_version": version,
        "as_of": as_of.isoformat(),
        "accounts": accounts,
        "reference": reference.get("source", {}),
        "threshold": threshold,
        "crossed": crossed(table, threshold)["feature"].tolist(),
        "rows": [
            {"feature": r.feature, "psi": None if pd.isna(r.psi) else float(r.psi), "status": r.status}
            for r in rows.itertuples()
        ],
    }


def write_json(document: dict[str, Any], target: Path) -> None:
    from features.atomic_write import write_text

    write_text(target, json.dumps(document, indent=1, allow_nan=False))


def demo_drift(dataset: Any, model: Path, as_of: pd.Timestamp, json_out: Path, top: int = 5) -> None:
    """The demo's drift step: the largest PSI rows at ``as_of`` and a JSON file; never fails the demo."""
    from features.errors import DataError
    from serving.drift import HISTORY, dataset_drift, reference_of
    from training.model.folder import load_model_folder

    try:
        bundle = load_model_folder(model)
        reference = reference_of(bundle)
        with progress_bar("drift") as update:
            update("building features", 0.2)
            table, accounts = dataset_drift(dataset, bundle, as_of)
        write_json(drift_document(table, bundle.version, as_of, 0.25, accounts, reference), json_out)
    except (DataError, ValueError, OSError) as exc:
        console.print(f"[yellow]drift not computed[/]: {exc}", highlight=False)
        return
    print_drift(table, as_of, accounts, reference, top)
    worst = table[table["status"] != HISTORY].sort_values("psi", ascending=False).iloc[0]
    console.print(
        f"largest PSI: {worst['feature']} {worst['psi']:.3f} ({worst['status']}); "
        f"`churn drift` exits {DRIFT_EXIT} when a PSI reaches --threshold (default 0.25), history signals aside",
        highlight=False,
    )
