"""`churn alerts`: accounts that entered red or fell more than N points since the previous run.

Reads the score history that `churn score` keeps; writes CSV and/or JSON (for a webhook) and
exits 1 when there is any alert, 0 when there is none, so a scheduler can act on the code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from churn.console import console, fail, user_errors

# Start-up time: the stages (features, training, serving) are imported inside the commands that use
# them. `churn --help` takes 2-3 s; importing the stages' modules takes 30-60 s more on the shared
# 2-core machine (measured 2026-12-02), and `churn serve` must refuse a busy port before that.


def alerts(
    history: Annotated[
        Path | None, typer.Option(help="Score history (DuckDB file); default: history.duckdb beside --model.")
    ] = None,
    model: Annotated[Path | None, typer.Option(help="Model folder, to find the default history.")] = None,
    drop: Annotated[float, typer.Option(min=0, help="Alert when health fell more than this many points.")] = 10.0,
    csv: Annotated[Path | None, typer.Option(help="Write the alerts as CSV here.")] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the alerts as JSON here ('-': stdout).")
    ] = None,
    lang: Annotated[str, typer.Option(help="Language of the sentences: en or tr.")] = "en",
) -> None:
    """List accounts that entered red or fell more than --drop points since the previous run; exit 1 if any."""
    from features.atomic_write import atomic_file
    from serving.alerts import alerts as find_alerts
    from serving.history import default_path, read_history
    from serving.story import Story

    if lang not in ("en", "tr"):
        fail(f"--lang must be en or tr, not {lang!r}", 2)
    if history is None and model is None:
        fail("give --history (the score history file) or --model (its history is beside it)", 2)
    path = history or default_path(model)  # type: ignore[arg-type]
    with user_errors():
        if not path.is_file():
            raise FileNotFoundError(f"no score history at {path}: run `churn score` first")
        story = Story(*read_history(path))
        found = find_alerts(story, drop=drop, lang=lang)
        document = {
            "as_of": None if story.scores.empty else story.scores["as_of"].max().isoformat(),
            "drop": drop,
            "count": len(found),
            "alerts": json.loads(found.to_json(orient="records", force_ascii=False)),
        }
        if csv is not None:
            with atomic_file(csv) as tmp:
                found.to_csv(tmp, index=False, encoding="utf-8")
        if json_out is not None and str(json_out) != "-":
            with atomic_file(json_out) as tmp:
                tmp.write_text(json.dumps(document, ensure_ascii=False, indent=1), encoding="utf-8")
    if json_out is not None and str(json_out) == "-":
        typer.echo(json.dumps(document, ensure_ascii=False))
    else:
        for sentence in found["sentence"].head(20):
            console.print(f"- {sentence}", highlight=False)
        console.print(
            f"{len(found):,} alert(s) (entered red, or fell more than {drop:g} points since the previous run)"
        )
    raise typer.Exit(1 if len(found) else 0)
