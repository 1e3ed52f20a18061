"""The `churn` command line: thin wiring over the stages' Python APIs.

Every command exits non-zero with a one-line reason on bad input (exit code 2 for data
that breaks the contract, 1 for other failures).
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from churn import alerts_cmd, config_cmd, drift_cmd, report_cmd, score_cmd, serve_cmd
from churn.config_cmd import DATA_HELP, ConfigOption, data_location, open_data, run_settings, start_engine
from churn.console import DEMO_DIR, console, fail, parse_date, progress_bar, user_errors

# Start-up time: the stages (features, training, serving) are imported inside the commands that use
# them. `churn --help` takes 2-3 s; importing the stages' modules takes 30-60 s more on the shared
# 2-core machine (measured 2026-12-02), and `churn serve` must refuse a busy port before that.
if TYPE_CHECKING:  # pandas loads in about a second: `churn serve` must refuse a busy port sooner
    import pandas as pd

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Account health and churn prediction: generate, validate, build features, train, score, serve.",
    pretty_exceptions_enable=False,
)
# --- generate ---------------------------------------------------------------------------


@app.command()
def generate(
    out: Annotated[Path, typer.Option(help="Folder to write the world's Parquet tables to.")],
    accounts: Annotated[int, typer.Option(min=1, help="Number of accounts.")] = 1000,
    months: Annotated[int, typer.Option(min=1, max=240, help="Months of history.")] = 24,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed writes the same bytes.")] = 0,
    start: Annotated[str, typer.Option(help="First day of the history, YYYY-MM-DD.")] = "2024-01-01",
) -> None:
    """Generate a synthetic B2B SaaS world with its ground truth."""
    from simulator import GeneratorConfig, generate_world, write_world

    config = GeneratorConfig(accounts=accounts, months=months, seed=seed, start=parse_date(start))
    with user_errors(), progress_bar("generating") as update:
        world = generate_world(config, progress=update)
        write_world(world, out)
        write_world_settings(config, out)
    print_world_summary(world.summary, out)


def write_world_settings(config: object, out: Path) -> Path:
    """The generated world's own settings file (churn.toml): its key events and outcome windows."""
    from features.atomic_write import write_text
    from features.config import FeatureConfig
    from features.domain import OutcomeRules
    from features.settings import DATA_SETTINGS_FILE, Settings, dump_settings
    from simulator import GENERATED_KEY_EVENTS

    rules = OutcomeRules(
        horizon_days=config.horizon_days,  # type: ignore[attr-defined]
        grace_days=config.grace_days,  # type: ignore[attr-defined]
        trial_days=config.trial_days,  # type: ignore[attr-defined]
    )
    settings = Settings(FeatureConfig(key_events=GENERATED_KEY_EVENTS), rules)
    header = "# Settings of a generated world: its product's key events. `churn` commands given --data on\n"
    header += "# this folder read this file unless --config names another.\n\n"
    target = Path(out) / DATA_SETTINGS_FILE
    write_text(target, header + dump_settings(settings))
    return target


def print_world_summary(summary: object, out: Path) -> None:
    table = Table(title=f"Generated world in {out}", show_header=True)
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in vars(summary).items():
        if isinstance(value, dict):
            for k, v in value.items():
                table.add_row(f"{key}: {k}", _fmt(v))
        else:
            table.add_row(key.replace("_", " "), _fmt(value))
    console.print(table)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


# --- validate ---------------------------------------------------------------------------


@app.command()
def validate(
    data: Annotated[Path, typer.Option(help="Dataset folder (CSV/Parquet per table) or DuckDB file.")],
    config: ConfigOption = None,
) -> None:
    """Check a dataset against the input contract and print a report."""
    from features.loader import load_dataset
    from features.validation import validate_dataset

    settings = run_settings(config, data)
    with user_errors():
        report = validate_dataset(load_dataset(data, mapping=settings.input))
    print_report(report)
    if not report.ok:
        first = report.errors[0]
        fail(f"{len(report.errors)} problem(s) in {data}; first: {first}", 2)


def print_report(report: object) -> None:
    from features.validation import ValidationReport

    assert isinstance(report, ValidationReport)
    table = Table(title=f"Dataset {report.source}")
    for column in ("table", "rows", "first", "last"):
        table.add_column(column, justify="right" if column == "rows" else "left")
    for s in report.tables:
        table.add_row(s.name, f"{s.rows:,}", _day(s.first), _day(s.last))
    for name in report.skipped_tables:
        table.add_row(name, "absent", "", "", style="dim")
    console.print(table)
    for name, cols in report.ignored_columns.items():
        console.print(f"[dim]{name}: ignored columns not in the contract: {', '.join(cols)}[/]")
    for p in report.errors:
        console.print(f"[red]ERROR[/] {p}", highlight=False, soft_wrap=True)
    for p in report.warnings:
        console.print(f"[yellow]WARNING[/] {p}", highlight=False, soft_wrap=True)
    verdict = "[green]valid[/]" if report.ok else f"[red]{len(report.errors)} error(s)[/]"
    console.print(f"{verdict}, {len(report.warnings)} warning(s)")


def _day(value: object) -> str:
    return f"{value:%Y-%m-%d}" if value is not None else ""


# --- features ---------------------------------------------------------------------------


@app.command()
def features(
    data: Annotated[str | None, typer.Option(help=DATA_HELP)] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Snapshot date(s): YYYY-MM-DD[,YYYY-MM-DD...].")] = None,
    out: Annotated[Path | None, typer.Option(help="Parquet file to write.")] = None,
    engine: Annotated[str, typer.Option(help="duckdb (embedded) or spark.")] = "duckdb",
    list_signals: Annotated[bool, typer.Option("--list", help="Print the signal catalog and exit.")] = False,
    lang: Annotated[str, typer.Option(help="Language of --list: en or tr.")] = "en",
    config: ConfigOption = None,
) -> None:
    """Build point-in-time account signals for one or more snapshot dates."""
    if list_signals:
        print_signal_catalog(lang)
        return
    if data is None or as_of is None or out is None:
        fail("--data, --as-of and --out are required (or --list)", 2)
    if engine not in ("duckdb", "spark"):
        fail(f"--engine must be duckdb or spark, not {engine!r}", 2)
    from features.builders import write_features
    from features.validation import require_valid

    dates = [parse_date(d.strip()) for d in as_of.split(",") if d.strip()]
    location = data_location(data, engine)
    settings = run_settings(config, location)
    start_engine(engine, settings)
    with user_errors():
        dataset = open_data(location, settings.input)
        require_valid(dataset)
        with progress_bar("features") as update:
            # Written by the engine itself: the rows never pass through pandas.
            result = write_features(
                dataset,
                dates,
                out,
                engine=engine,
                config=settings.features,
                progress=lambda message: update(message, 0.5),
            )
    for skipped in result.skipped:
        console.print(f"[yellow]skipped[/] {skipped.name}: {skipped.reason}")
    console.print(f"{result.rows:,} rows x {len(result.signals)} signals -> {out}")


def print_signal_catalog(lang: str) -> None:
    from features.signals import SIGNALS

    table = Table(title="Signal catalog")
    for column in ("signal", "group", "unit", "healthy when", "actionable", "needs", "description"):
        table.add_column(column)
    for s in SIGNALS:
        healthy = {1: "higher", -1: "lower", 0: "context"}[s.direction]
        needs = ", ".join(t for t, _ in s.requires)
        table.add_row(
            s.name,
            s.group,
            s.unit,
            healthy,
            "yes" if s.actionable else "no",
            needs,
            s.label.get(lang, s.description) if lang != "en" else s.description,
        )
    console.print(table)


# --- train ------------------------------------------------------------------------------


@app.command()
def train(
    out: Annotated[Path, typer.Option(help="Model folder to write.")],
    data: Annotated[str | None, typer.Option(help=DATA_HELP)] = None,
    table: Annotated[
        Path | None, typer.Option(help="Bring your own features: one row per account (CSV/Parquet).")
    ] = None,
    id_column: Annotated[str | None, typer.Option("--id", help="--table: the ID column.")] = None,
    label: Annotated[str | None, typer.Option(help="--table: the label column.")] = None,
    positive: Annotated[str | None, typer.Option(help="--table: the label value that means churn.")] = None,
    time_column: Annotated[str | None, typer.Option("--time", help="--table: a time column for a time split.")] = None,
    horizon: Annotated[
        int | None, typer.Option(min=1, help="Outcome window in days (default: the settings', 90).")
    ] = None,
    churn_definition: Annotated[
        str | None, typer.Option(help="contract (subscriptions) or activity (usage only); default: the settings'.")
    ] = None,
    active_days: Annotated[
        int | None, typer.Option(min=1, help="activity: days of history that make an account active (default 365).")
    ] = None,
    outcomes: Annotated[str, typer.Option(help="Comma-separated: churn,renewal,upsell.")] = "churn,renewal,upsell",
    date_from: Annotated[str | None, typer.Option("--from", help="First snapshot date, YYYY-MM-DD.")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="Last snapshot date, YYYY-MM-DD.")] = None,
    tracking_uri: Annotated[
        str | None, typer.Option(help="MLflow tracking URI (default: local SQLite beside --out).")
    ] = None,
    no_mlflow: Annotated[bool, typer.Option("--no-mlflow", help="Skip MLflow logging.")] = False,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same model file.")] = 42,
    param: Annotated[
        list[str] | None, typer.Option(help="LightGBM parameter override, key=value (repeatable).")
    ] = None,
    engine: Annotated[str, typer.Option(help="Feature engine: duckdb or spark.")] = "duckdb",
    config: ConfigOption = None,
    every: Annotated[
        str,
        typer.Option(
            help="Snapshot cadence: auto (monthly if the history allows, else 2W, else 1W), 1M, 2W, 1W or 7D."
        ),
    ] = "auto",
    linear_start: Annotated[
        str,
        typer.Option(
            help="Boost each outcome's trees from a linear start: auto (when it early-stops to a lower "
            "held-out log loss), on or off."
        ),
    ] = "auto",
) -> None:
    """Train churn, renewal and upsell models (or a model on your own feature table).

    The settings (--config, else the dataset folder's churn.toml) are saved in the model
    folder as settings.toml; --horizon, --churn-definition and --active-days override them.
    """
    if (data is None) == (table is None):
        fail("give exactly one of --data (account history) or --table (your own feature table)", 2)
    if table is not None:
        train_table_command(table, out, id_column, label, positive, time_column, seed, param)
        return
    assert data is not None
    from features.validation import require_valid
    from training.lgbm import LGBMParams
    from training.outcomes import OutcomeConfig
    from training.train import TrainConfig

    names = tuple(o.strip() for o in outcomes.split(",") if o.strip())
    unknown = [o for o in names if o not in ("churn", "renewal", "upsell")]
    if unknown or not names:
        fail(f"--outcomes takes churn, renewal and upsell, not {', '.join(unknown) or 'nothing'}", 2)
    if churn_definition not in (None, "contract", "activity"):
        fail(f"--churn-definition must be contract or activity, not {churn_definition!r}", 2)
    location = data_location(data, engine)
    settings = run_settings(config, location)
    flags = {"horizon_days": horizon, "churn_definition": churn_definition, "active_days": active_days}
    rules = {**asdict(settings.outcomes), **{k: v for k, v in flags.items() if v is not None}}
    if rules["churn_definition"] == "activity" and names != ("churn",):
        fail("activity churn needs only accounts and usage events: use --outcomes churn", 2)
    start_engine(engine, settings)
    with user_errors():
        params = LGBMParams().replace(**_parse_params(param or []))
        train_config = TrainConfig(
            outcomes=names,
            outcome=OutcomeConfig(**rules),
            features=settings.features,
            lgbm=params,
            seed=seed,
            engine=engine,
            every=every,
            linear_start=linear_start,
            start=parse_date(date_from) if date_from else None,
            end=parse_date(date_to) if date_to else None,
        )
        dataset = open_data(location, settings.input)
        require_valid(dataset)
        run_training(
            dataset,
            location,
            train_config,
            out,
            None if no_mlflow else (tracking_uri or _default_uri(out)),
            mapping=settings.input,
        )


def _default_uri(out: Path) -> str:
    from training.tracking import default_tracking_uri

    return default_tracking_uri(out.resolve().parent)


def _parse_params(items: list[str]) -> dict[str, str]:
    pairs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            fail(f"--param takes key=value, not {item!r}", 2)
        pairs[key.strip()] = value.strip()
    return pairs


def run_training(
    dataset: object, data: Path | str, config: object, out: Path, tracking_uri: str | None, *, mapping: object = None
) -> object:
    """Train, write the model folder (with its settings.toml), log to MLflow, print the metrics table."""
    from training.artifact import data_fingerprint, write_model_folder
    from training.train import train as train_models

    with progress_bar("training") as update:
        result = train_models(dataset, config, progress=update)  # type: ignore[arg-type]
    write_model_folder(
        result,
        out,
        data_source=str(data),
        fingerprint=data_fingerprint(data),
        mapping=mapping,  # type: ignore[arg-type]
    )
    print_metrics(result)
    print_scorecard(result)
    console.print(f"model folder: {out.resolve()}")
    if tracking_uri:
        from training.tracking import log_training_run

        with progress_bar("logging to MLflow") as update:
            update("run", 0.1)
            run_id = log_training_run(result, out, tracking_uri=tracking_uri)
        console.print(f"MLflow run {run_id} in {tracking_uri}")
    return result


def print_metrics(result: object) -> None:
    from training.model_card import METRIC_ROWS

    for name, model in result.models.items():  # type: ignore[attr-defined]
        table = Table(
            title=f"{name}: test metrics ({model.rows['test']:,} snapshots, calibration: {model.calibrator.method})"
        )
        table.add_column("metric")
        for family in ("LightGBM", "logistic", "equal-weight"):
            table.add_column(family, justify="right")
        for key, label in METRIC_ROWS:
            values = [model.metrics.get(f, {}).get(key) for f in ("model", "logistic", "equal_weight")]
            table.add_row(label, *["n/a" if v is None or v != v else f"{v:.3f}" for v in values])
        console.print(table)


def print_scorecard(result: object) -> None:
    """The health scorecard's components and weights, and its backtest beside the model."""
    from training.scorecard import CONTEXT_SIGNALS

    scorecard = getattr(result, "scorecard", None)
    if scorecard is None:
        return
    table = Table(title="health scorecard (scorecard.yaml): weights learned from the churn model")
    for column in ("component", "weight", "measures (weight within the component)"):
        table.add_column(column, justify="right" if column == "weight" else "left")
    for c in scorecard.main.components:
        table.add_row(c.name, f"{c.weight:g}", ", ".join(f"{m.signal} {m.weight:g}" for m in c.measures))
    console.print(table)
    context = scorecard.info.get("learning", {}).get("context_signals_not_measures")
    if context:
        console.print(f"not measures (timing and size, not health; see the churn probability): {', '.join(context)}")
    timing = {
        m.signal: c.weight * m.weight / 100
        for c in scorecard.main.components
        for m in c.measures
        if m.signal in CONTEXT_SIGNALS
    }
    if timing:
        console.print(
            f"timing and size measures ({', '.join(timing)}): {sum(timing.values()):.0f} of the 100 points "
            "together (capped)"
        )
    bt = scorecard.info.get("backtest")
    if not bt:
        return
    table = Table(title=f"health score backtest ({bt['n']:,} test snapshots, risk = 100 - score)")
    table.add_column("metric")
    for family in ("health scorecard", "LightGBM", "equal-weight"):
        table.add_column(family, justify="right")
    for key, label in (("roc_auc", "churn ROC-AUC"), ("lift_top_decile", "lift, top decile")):
        values = [bt.get(f, {}).get(key) for f in ("scorecard", "model", "equal_weight")]
        table.add_row(label, *["n/a" if v is None or v != v else f"{v:.3f}" for v in values])
    if "exposed" in bt:  # the snapshots facing a renewal within the horizon: timing held fixed
        values = [bt["exposed"].get(f, {}).get("roc_auc") for f in ("scorecard", "model", "equal_weight")]
        table.add_row(
            f"churn ROC-AUC, renewal due ({bt['exposed']['n']:,})",
            *["n/a" if v is None or v != v else f"{v:.3f}" for v in values],
        )
    console.print(table)
    bands = ", ".join(
        f"{name} {b['churn_rate']:.1%} of {b['n']:,}" if b["n"] else f"{name} none" for name, b in bt["bands"].items()
    )
    note = scorecard.onboarding.note or "learned on young accounts"
    console.print(f"churn rate per band: {bands}; onboarding card: {note}")


def train_table_command(
    table: Path,
    out: Path,
    id_column: str | None,
    label: str | None,
    positive: str | None,
    time_column: str | None,
    seed: int,
    param: list[str] | None,
) -> None:
    if not id_column or not label:
        fail("--table needs --id and --label", 2)
    from training.artifact import write_tabular_folder
    from training.tabular import TabularConfig, load_table, train_table

    with user_errors():
        frame = load_table(table)
        config = TabularConfig(seed=seed)
        if param:
            config = TabularConfig(seed=seed, params=config.params.replace(**_parse_params(param)))
        with progress_bar("training on your table") as update:
            update("cross-validation", 0.1)
            result = train_table(frame, id_column, label, positive, time_column, config)
        write_tabular_folder(result, out, source=str(table))
    table_view = Table(title=f"{label} == {result.positive!r}: {result.validation}")
    table_view.add_column("metric")
    for family in result.metrics:
        table_view.add_column(family, justify="right")
    keys = [k for k in next(iter(result.metrics.values())) if k != "n"]
    for key in keys:
        table_view.add_row(key, *[f"{m.get(key, float('nan')):.3f}" for m in result.metrics.values()])
    console.print(table_view)
    console.print(f"model folder: {out.resolve()}")


# --- demo -------------------------------------------------------------------------------


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for every demo output.")] = DEMO_DIR,
    accounts: Annotated[int, typer.Option(min=50)] = 1500,
    months: Annotated[int, typer.Option(min=12)] = 24,
    seed: Annotated[int, typer.Option()] = 7,
    config: ConfigOption = None,
) -> None:
    """Run the whole job on a generated world and print where each output is."""
    from features.builders import write_features
    from features.loader import load_dataset
    from features.source import duckdb_memory_limit
    from features.validation import data_end, validate_dataset
    from simulator import GeneratorConfig, generate_world, write_world
    from training.outcomes import OutcomeConfig
    from training.train import TrainConfig

    world_dir, model_dir, features_file = out / "world", out / "model", out / "features.parquet"
    console.rule("1. generate a synthetic SaaS world")
    world_config = GeneratorConfig(accounts=accounts, months=months, seed=seed)
    with user_errors(), progress_bar("generating") as update:
        world = generate_world(world_config, progress=update)
        write_world(world, world_dir)
        write_world_settings(world_config, world_dir)
    print_world_summary(world.summary, world_dir)
    settings = run_settings(config, world_dir)  # the world's churn.toml unless --config names another

    console.rule("2. validate it against the input contract")
    dataset = load_dataset(world_dir, mapping=settings.input)
    report = validate_dataset(dataset)
    print_report(report)
    if not report.ok:
        fail("the generated world does not pass validation", 1)

    console.rule("3. build point-in-time features for the latest snapshot")
    end = data_end(dataset)
    assert end is not None
    as_of = end.normalize()
    with progress_bar("features") as update:
        written = write_features(
            dataset, [as_of], features_file, config=settings.features, progress=lambda message: update(message, 0.5)
        )
    console.print(
        f"{written.rows:,} accounts x {len(written.signals)} signals at {as_of:%Y-%m-%d}, computed and written by "
        f"DuckDB from the Parquet files where they lie (memory cap {duckdb_memory_limit()}); "
        "the same with --engine spark, or on Spark from a URI or catalog tables (README, Run on Spark)"
    )

    console.rule("4. train churn, renewal and upsell models (time-based validation, MLflow)")
    uri = _default_uri(model_dir)
    train_config = TrainConfig(outcome=OutcomeConfig(**asdict(settings.outcomes)), features=settings.features)
    run_training(dataset, world_dir, train_config, model_dir, uri, mapping=settings.input)

    console.rule("5. score every active account: probabilities, health score, red flags, CRM file")
    scores_file, crm_file = out / "scores.parquet", out / "crm.csv"
    history_file = out / "history.duckdb"
    demo_score(world_dir, model_dir, scores_file, crm_file, as_of=as_of, history=history_file)

    console.rule("6. portfolio KPI report: KPIs per month and segment, health bands, model metrics, drift")
    report_file, report_json = out / "report.html", out / "report.json"
    report_cmd.run_report(
        world_dir,
        report_file,
        model=model_dir,
        scores=scores_file if scores_file.exists() else None,
        json_out=report_json,
        png_dir=out / "report_files",
    )

    console.rule("7. drift: PSI of every model input and the churn probability, test snapshots vs today")
    drift_file = out / "drift.json"
    drift_cmd.demo_drift(dataset, model_dir, as_of, drift_file)

    console.rule("outputs")
    console.print(f"world (Parquet tables + ground_truth.parquet): {world_dir.resolve()}")
    console.print(f"features at {as_of:%Y-%m-%d}: {features_file.resolve()}")
    console.print(f"model folder (models, metrics.json, scorecard.yaml, model_card.md): {model_dir.resolve()}")
    console.print(f"MLflow store: {uri}  (browse: mlflow ui --backend-store-uri {uri})")
    console.print(f"scores with red/green flags: {scores_file.resolve()}")
    console.print(f"CRM export (Salesforce-style fields): {crm_file.resolve()}")
    console.print(f"score history (2 months backfilled, monthly; alerts in alerts.csv): {history_file.resolve()}")
    console.print(
        f"KPI report (self-contained HTML; numbers in report.json, charts in report_files/): {report_file.resolve()}"
    )
    console.print(f"drift table (PSI per feature; `churn drift` exits 3 at 0.25): {drift_file.resolve()}")
    console.rule("serve the API and the CSM risk-list page")
    console.print(
        f"{serve_cmd.KEY_RECIPE}\nchurn serve --model {model_dir} --data {world_dir}   # then open http://127.0.0.1:8000/",
        highlight=False,
        soft_wrap=True,
    )


def demo_score(
    world_dir: Path,
    model_dir: Path,
    scores_file: Path,
    crm_file: Path,
    *,
    as_of: pd.Timestamp | None = None,
    history: Path | None = None,
    months: int = 2,
) -> None:
    """Score the latest date; with ``as_of``, backfill the ``months`` before it first, so the page has history."""
    import pandas as pd

    backfill = None
    if as_of is not None:
        backfill = f"{as_of - pd.DateOffset(months=months):%Y-%m-%d}:{as_of:%Y-%m-%d}"
    score_cmd.score(
        data=str(world_dir), model=model_dir, out=scores_file, crm_out=crm_file, history=history, backfill=backfill
    )
    if history is not None:
        console.rule("5b. alerts: accounts that entered red or fell more than 10 points since the previous run")
        try:
            alerts_cmd.alerts(history=history, csv=history.with_name("alerts.csv"))
        except typer.Exit:  # exit code 1 means "there are alerts", which is the demo's point
            pass


app.command("score")(score_cmd.score)
app.command("config")(config_cmd.config)
app.command("alerts")(alerts_cmd.alerts)
app.command("serve")(serve_cmd.serve)
app.command("drift")(drift_cmd.drift)
app.command("report")(report_cmd.report)


def main() -> None:  # pragma: no cover - console entry for `python -m churn`
    sys.exit(app())
