"""`churn config` and the `--config FILE` option every data command shares.

Which settings a command uses:

* training, validating, building features, the KPI report: ``--config FILE`` when given,
  else the dataset folder's own ``churn.toml`` when it has one (``churn generate`` writes
  one), else the defaults;
* scoring, drift and the API: the model folder's ``settings.toml`` (what training used).
  A ``--config`` may change only the ``[input]`` table (the data's layout) and ``[spark]``
  (how a Spark run is configured); one whose
  ``[features]`` or ``[outcomes]`` differ from the model's is refused with the first key
  that differs, so training and scoring cannot differ.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from churn.console import console, err_console, fail, user_errors
from features.settings import (
    InputMapping,
    Settings,
    data_settings_file,
    example_settings,
    for_scoring,
    load_settings,
)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="Settings file (TOML): key events, windows, outcomes, your column names and date formats. "
        "See `churn config --example`.",
    ),
]


def config(
    example: Annotated[bool, typer.Option("--example", help="Print a commented settings file.")] = False,
    check: Annotated[Path | None, typer.Option("--check", help="Validate a settings file and print it.")] = None,
) -> None:
    """Print an example settings file, or check one (exit 2 with a one-line reason when it is wrong)."""
    if example == (check is not None):
        fail("give one of --example or --check FILE", 2)
    if example:
        typer.echo(example_settings(), nl=False)
        return
    assert check is not None
    with user_errors():
        settings = load_settings(check)
    f, o, m = settings.features, settings.outcomes, settings.input
    console.print(f"[green]valid[/]: {check}", highlight=False)
    console.print(f"key events: {', '.join(f.key_events) or 'none'}", highlight=False)
    console.print(
        f"outcomes: {o.churn_definition} churn, horizon {o.horizon_days} days, grace {o.grace_days} days",
        highlight=False,
    )
    if not m.empty:
        renamed = sum(len(c) for c in m.columns.values())
        console.print(
            f"input: {len(m.tables)} table name(s), {renamed} column name(s), {len(m.formats)} date format(s) mapped",
            highlight=False,
        )


DATA_HELP = "Dataset folder or DuckDB file; with --engine spark also a URI (s3a://...) or a catalog.schema prefix."


def data_location(data: str, engine: str) -> Path | str:
    """``--data`` as a local path, or kept as text when it is a URI or a catalog prefix (Spark only)."""
    from features.spark_source import is_spark_location

    if not is_spark_location(data):
        return Path(data)
    if engine != "spark":
        fail(f"--data {data} is a URI or a catalog prefix, which only --engine spark reads (or the path is wrong)", 2)
    return data


def open_data(location: Path | str, mapping: InputMapping) -> Any:
    """The dataset at ``--data``: a local folder or file, or (a URI or catalog prefix) on Spark."""
    if isinstance(location, str):
        from features.spark_source import open_spark_dataset

        return open_spark_dataset(location, mapping)
    from features.loader import load_dataset

    return load_dataset(location, mapping=mapping)


def run_settings(config_file: Path | None, data: Path | str | None) -> Settings:
    """The settings of a command that reads data on its own: --config, else the data's churn.toml, else defaults."""
    with user_errors():
        if config_file is not None:
            return load_settings(config_file)
        found = data_settings_file(data)
        if found is not None:
            err_console.print(f"[dim]settings: {found}[/]", highlight=False, soft_wrap=True)
            return load_settings(found)
    return Settings()


def scoring_settings(bundle: Any, config_file: Path | None) -> Settings:
    """The settings of a command that scores with a model: the model's, with --config's [input] if given."""
    with user_errors():
        given = load_settings(config_file) if config_file is not None else None
        settings, note = for_scoring(bundle.settings, given)
    if note:
        err_console.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)
    return settings


def start_engine(engine: str, settings: Settings) -> None:
    """Start Spark now for ``--engine spark``, with the settings' ``[spark]`` table (a no-op for DuckDB).

    Later ``connect("spark")`` calls reuse this session; an active session (``spark-submit``) is kept.
    """
    if engine != "spark":
        return
    from features.engine import spark_session  # imports ibis: only for a Spark run

    with user_errors():
        spark_session(settings.spark)
