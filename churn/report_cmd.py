"""`churn report`: the portfolio KPI report as one self-contained HTML file (and JSON, and PNG charts)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from churn.config_cmd import ConfigOption, run_settings, scoring_settings, start_engine
from churn.console import console, fail, progress_bar, user_errors

# Start-up time: the stages (features, training, serving) are imported inside the commands that use
# them. `churn --help` takes 2-3 s; importing the stages' modules takes 30-60 s more on the shared
# 2-core machine (measured 2026-12-02), and `churn serve` must refuse a busy port before that.
if TYPE_CHECKING:  # pandas loads in about a second: only the commands that use it import it
    import pandas as pd


def report(
    data: Annotated[Path, typer.Option(help="Dataset folder (CSV/Parquet per table) or DuckDB file.")],
    out: Annotated[Path, typer.Option(help="HTML file to write (self-contained: no network needed to view it).")],
    model: Annotated[
        Path | None, typer.Option(help="Model folder: adds its test metrics (and drift, when available).")
    ] = None,
    scores: Annotated[
        Path | None,
        typer.Option(
            help="Scores file from `churn score`: health bands, and their movement if it holds two as_of dates."
        ),
    ] = None,
    previous_scores: Annotated[
        Path | None, typer.Option(help="An earlier scores file to compare the health bands with.")
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write every number of the report as JSON.")
    ] = None,
    png_dir: Annotated[Path | None, typer.Option(help="Also write each chart as a PNG file into this folder.")] = None,
    engine: Annotated[str, typer.Option(help="duckdb (embedded) or spark.")] = "duckdb",
    margin: Annotated[float, typer.Option(help="Gross margin used by customer lifetime value, in (0, 1].")] = 0.8,
    config: ConfigOption = None,
) -> None:
    """Customer-success KPIs per month and segment, health bands, model metrics and drift, as an HTML report."""
    if engine not in ("duckdb", "spark"):
        fail(f"--engine must be duckdb or spark, not {engine!r}", 2)
    if out.suffix.lower() not in (".html", ".htm"):
        fail(f"--out must be an .html file, not {out.name!r}", 2)
    if previous_scores is not None and scores is None:
        fail("--previous-scores needs --scores (the scoring to compare with it)", 2)
    written = run_report(
        data,
        out,
        model=model,
        scores=scores,
        previous_scores=previous_scores,
        json_out=json_out,
        png_dir=png_dir,
        engine=engine,
        margin=margin,
        config=config,
    )
    console.print(f"report: {out.resolve()}")
    if json_out:
        console.print(f"numbers as JSON: {json_out.resolve()}")
    if png_dir:
        console.print(f"charts as PNG: {png_dir.resolve()} ({sum(p.suffix == '.png' for p in written)} files)")


def run_report(
    data: Path,
    out: Path,
    *,
    model: Path | None = None,
    scores: Path | None = None,
    previous_scores: Path | None = None,
    json_out: Path | None = None,
    png_dir: Path | None = None,
    engine: str = "duckdb",
    margin: float = 0.8,
    config: Path | None = None,
) -> list[Path]:
    """Compute and write the report; prints the headline KPIs. Returns the files written."""
    from features.config import KPIConfig
    from features.kpi import compute_kpis
    from features.loader import load_dataset
    from features.validation import require_valid
    from serving.report import build_report, check_scores, write_report

    with user_errors(), progress_bar("report") as update:
        update("reading scores and the model folder", 0.02)  # bad inputs fail before the long work
        current = check_scores(_scores(scores), str(scores)) if scores else None
        before = check_scores(_scores(previous_scores), str(previous_scores)) if previous_scores else None
        bundle = None
        if model is not None:
            from training.model.folder import load_model_folder

            bundle = load_model_folder(model)
        # With a model, its settings (so the KPIs count what the model counted); else --config or the data's.
        settings = scoring_settings(bundle, config) if bundle is not None else run_settings(config, data)
        start_engine(engine, settings)
        rules = settings.outcomes
        kpi_config = KPIConfig(
            margin=margin,
            features=settings.features,
            horizon_days=rules.horizon_days,
            grace_days=rules.grace_days,
            min_term_days=rules.min_term_days,
            trial_days=rules.trial_days,
        )
        update("loading data", 0.05)
        dataset = load_dataset(data, mapping=settings.input)
        require_valid(dataset)
        kpis = compute_kpis(
            dataset, engine=engine, config=kpi_config, progress=lambda message, done: update(message, 0.1 + 0.6 * done)
        )
        update("drift", 0.75)
        drift = _drift(dataset, bundle, current, engine)
        report = build_report(
            kpis,
            scores=current,
            previous_scores=before,
            metrics=bundle.metrics if bundle else None,
            model_version=bundle.version if bundle else "",
            source=str(data),
            **drift,
        )
        update("writing", 0.9)
        written = write_report(report, out, json_out=json_out, png_dir=png_dir)
    for skipped in kpis.skipped:
        console.print(f"[yellow]skipped[/] {skipped}")
    print_latest(report)
    return written


def _scores(path: Path) -> pd.DataFrame:
    from serving.outputs import read_scores

    return read_scores(path)


def _drift(dataset: Any, bundle: Any, scores: pd.DataFrame | None, engine: str) -> dict[str, Any]:
    """The drift table of ``serving.drift`` when that module and a model are there, else a note or nothing."""
    import pandas as pd

    if bundle is None:
        return {}
    if importlib.util.find_spec("serving.drift") is None:
        return {"drift_note": "drift monitoring is not installed in this version"}
    from features.validation import data_end
    from serving.drift import dataset_drift

    if scores is not None and len(scores):
        as_of = pd.Timestamp(pd.to_datetime(scores["as_of"], utc=True).max())
    else:
        end = data_end(dataset)
        if end is None:
            return {"drift_note": "drift not computed: the data have no dated rows"}
        as_of = end.normalize()
    try:
        table, accounts = dataset_drift(dataset, bundle, as_of, engine=engine)
    except ValueError as exc:  # e.g. a model folder without a reference profile
        return {"drift_note": f"drift not computed: {exc}", "drift_as_of": f"{as_of:%Y-%m-%d}"}
    return {"drift": table, "drift_as_of": f"{as_of:%Y-%m-%d}", "drift_accounts": accounts}


def print_latest(report: dict[str, Any]) -> None:
    """The latest value of each KPI for all customers and per segment, as on the report's first table."""
    kpis = report["kpis"]
    catalog = {k["name"]: k for k in kpis["catalog"]}
    table = Table(title="KPIs, latest month with a value")
    for column in ("KPI", "month", *report["segments"]):
        table.add_column(column, justify="left" if column in ("KPI", "month") else "right")
    for row in kpis["latest"]:
        k = catalog[row["kpi"]]
        values = [
            "-" if row["values"][s] is None else f"{row['values'][s]:,.{k['digits']}f}" for s in report["segments"]
        ]
        table.add_row(k["label"], row["month"], *values)
    console.print(table)
