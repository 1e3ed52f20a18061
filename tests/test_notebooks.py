"""The data-scientist notebooks: committed without outputs, and they run top to bottom."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
EXPECTED = {
    "01_quickstart.ipynb": ("Red flags (raise the churn risk):", "active accounts scored", "suggested:"),
    "02_model_evaluation.ipynb": ("ECE ", "additivity gap", "health score ROC-AUC"),
}


def _text(nb: nbformat.NotebookNode) -> str:
    """Every cell's printed text and results. A cell's stream pieces are joined as they were written:
    the kernel may flush one print in several messages."""
    parts = []
    for cell in nb.cells:
        outputs = cell.get("outputs", [])
        parts.append("".join(out.text for out in outputs if out.output_type == "stream"))
        parts += [
            out.data.get("text/plain", "") for out in outputs if out.output_type in ("execute_result", "display_data")
        ]
    return "\n".join(parts)


def test_every_notebook_is_listed() -> None:
    """It executes every notebook in notebooks/ (a new one needs its expected outputs here)."""
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_is_committed_without_outputs(name: str) -> None:
    """It keeps outputs and execution counts out of version control."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_runs(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """It runs every cell without an error on this interpreter, on small data, and prints its findings."""
    monkeypatch.setenv("CHURN_NOTEBOOK_DIR", str(tmp_path))  # the kernel inherits it: outputs go here
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import sys; print(f'KERNEL {sys.executable}')"))
    # "python3" is the project venv's own kernel: jupyter_client starts it with this interpreter.
    client = NotebookClient(nb, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()
    text = _text(nb)
    assert f"KERNEL {sys.executable}" in text or f"KERNEL {os.path.realpath(sys.executable)}" in text
    for snippet in EXPECTED[name]:
        assert snippet in text, snippet
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    assert any(p.is_dir() for p in tmp_path.iterdir()), "the notebook should write its data under CHURN_NOTEBOOK_DIR"
