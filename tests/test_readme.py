"""The README's tour prints what the code prints: its generate and validate outputs are rerun here.

Each console block of the tour that starts with `$ churn generate` or `$ churn validate` is run
with the block's own arguments (in a temporary folder), and every table row the README shows
must appear in the real output, cell for cell.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from churn.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"
CHECKED = ("generate", "validate")


def console_blocks(text: str) -> list[tuple[list[str], list[str]]]:
    """(argv after `churn`, output lines) of each ```console block whose first line runs `churn`."""
    blocks = []
    for body in re.findall(r"```console\n(.*?)```", text, flags=re.S):
        first, *rest = body.rstrip("\n").split("\n")
        if first.startswith("$ churn "):
            argv = shlex.split(first.removeprefix("$ churn ").split("#")[0])
            blocks.append((argv, [line for line in rest if not line.startswith("$ ")]))
    return blocks


def cells(line: str) -> list[str]:
    """A rich table row as its cells, without borders or padding."""
    return [cell.strip() for cell in re.split(r"[│┃]", line) if cell.strip()]


def tour() -> list[tuple[list[str], list[str]]]:
    return [(argv, out) for argv, out in console_blocks(README.read_text()) if argv[0] in CHECKED]


def test_the_tour_has_the_checked_blocks() -> None:
    assert [argv[0] for argv, _ in tour()] == list(CHECKED)


@pytest.mark.slow
def test_tour_outputs_match_a_real_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    for argv, shown in tour():
        result = runner.invoke(app, argv, env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        real_rows = [cells(line) for line in result.output.splitlines()]
        real_lines = {line.strip() for line in result.output.splitlines()}
        for line in shown:
            if line.strip() in ("", "..."):
                continue
            if "│" in line or "┃" in line:
                assert cells(line) in real_rows, f"README row {line!r} not in `churn {' '.join(argv)}` output"
            else:
                assert line.strip() in real_lines, f"README line {line!r} not in `churn {' '.join(argv)}` output"
