"""What every `churn` command shares: consoles, one-line failures, progress bars, dates."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import NoReturn

import duckdb
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from features.errors import DataError
from features.source import duckdb_memory_limit
from features.spark_conf import spark_failure
from features.write_lock import TargetBusy

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
    except (FileNotFoundError, NotADirectoryError, ValueError, TargetBusy) as exc:
        fail(str(exc), 2)
    except duckdb.OutOfMemoryException as exc:
        limit = duckdb_memory_limit()  # valid: the connection that ran out was configured with it
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        fail(f"DuckDB ran out of its memory cap ({limit}; set CHURN_DUCKDB_MEMORY_LIMIT to raise it): {first}", 1)
    except Exception as exc:
        # Spark failing (the JVM out of memory or gone, a query Spark refuses): exit 1 with Spark's
        # reason. Checked after ValueError: PySpark's errors about bad arguments are ValueErrors too.
        reason = spark_failure(exc)
        if reason is None:
            raise
        fail(reason, 1)


@contextmanager
def progress_bar(description: str) -> Iterator[Callable[[str, float], None]]:
    """A Rich progress bar driven by ``update(step, fraction_done)`` callbacks."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
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
