"""The `churn` command line: thin wiring over the stages' Python APIs.

Every command exits non-zero with a one-line reason on bad input (exit code 2 for data
that breaks the contract, 1 for other failures).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from features.errors import DataError

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Account health and churn prediction: generate, validate, build features, train, score, serve.",
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

DEMO_DIR = Path("demo_output")


def fail(message: str, code: int = 1) -> NoReturn:
    """Print a one-line reason to stderr and exit non-zero."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn expected failures into one line and a non-zero exit, never a traceback."""
    try:
        yield
    except DataError as exc:
        fail(str(exc), 2)
    except (FileNotFoundError, NotADirectoryError, ValueError) as exc:
        fail(str(exc), 2)


@contextmanager
def progress_bar(description: str) -> Iterator[Callable[[str, float], None]]:
    """A Rich progress bar driven by ``update(step, fraction_done)`` callbacks."""
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(), console=err_console, transient=True, disable=not err_console.is_terminal,
    ) as bar:
        task = bar.add_task(description, total=1.0)

        def update(step: str, fraction: float) -> None:
            bar.update(task, completed=min(max(fraction, 0.0), 1.0), description=f"{description}: {step}")

        yield update


def parse_date(text: str) -> date:
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        fail(f"not a date (expected YYYY-MM-DD): {text!r}", 2)


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
    from features.generator import GeneratorConfig, generate_world, write_world

    config = GeneratorConfig(accounts=accounts, months=months, seed=seed, start=parse_date(start))
    with user_errors(), progress_bar("generating") as update:
        world = generate_world(config, progress=update)
        write_world(world, out)
    print_world_summary(world.summary, out)


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
) -> None:
    """Check a dataset against the input contract and print a report."""
    from features.loader import load_dataset
    from features.validation import validate_dataset

    with user_errors():
        report = validate_dataset(load_dataset(data))
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


# --- demo -------------------------------------------------------------------------------

@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for every demo output.")] = DEMO_DIR,
    accounts: Annotated[int, typer.Option(min=50)] = 1500,
    months: Annotated[int, typer.Option(min=6)] = 24,
    seed: Annotated[int, typer.Option()] = 7,
) -> None:
    """Run the whole job on a generated world and print where each output is."""
    from features.generator import GeneratorConfig, generate_world, write_world
    from features.loader import load_dataset
    from features.validation import validate_dataset

    world_dir = out / "world"
    console.rule("1. generate a synthetic SaaS world")
    with user_errors(), progress_bar("generating") as update:
        world = generate_world(GeneratorConfig(accounts=accounts, months=months, seed=seed), progress=update)
        write_world(world, world_dir)
    print_world_summary(world.summary, world_dir)

    console.rule("2. validate it against the input contract")
    report = validate_dataset(load_dataset(world_dir))
    print_report(report)
    if not report.ok:
        fail("the generated world does not pass validation", 1)

    console.rule("outputs")
    console.print(f"world (Parquet tables + ground_truth.parquet): {world_dir.resolve()}")


def main() -> None:  # pragma: no cover - console entry for `python -m churn`
    sys.exit(app())
