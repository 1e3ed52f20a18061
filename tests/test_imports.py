"""The project's import graph, read from the source with ``ast`` (no module is imported).

Every ``import`` counts: at the top of a module, inside a function, or under
``if TYPE_CHECKING:``. Data flows one way (DESIGN.md section 2): ``features`` imports
neither ``training`` nor ``serving``; ``training`` does not import ``serving``; nothing
below the CLI imports ``churn``; and there is no cycle among the project's modules.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("features", "simulator", "training", "serving", "churn")
# package -> the project packages it must not import
FORBIDDEN = {
    "features": {"simulator", "training", "serving", "churn"},
    "simulator": {"training", "serving", "churn"},
    "training": {"serving", "churn"},
    "serving": {"churn"},
}


def project_modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the project's packages."""
    modules = {}
    for package in PACKAGES:
        for file in sorted((ROOT / package).rglob("*.py")):
            parts = list(file.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = file
    return modules


def imported_names(module: str, file: Path) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of everything ``module`` imports, anywhere in its source."""
    package = module if file.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"), filename=str(file))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            yield node.lineno, base
            for alias in node.names:  # `from serving import outputs` imports the module serving.outputs
                yield node.lineno, f"{base}.{alias.name}"


def import_graph() -> dict[str, dict[str, int]]:
    """module -> {project module it imports: line of the first such import}."""
    modules = project_modules()
    graph: dict[str, dict[str, int]] = {}
    for module, file in modules.items():
        edges: dict[str, int] = {}
        for line, name in imported_names(module, file):
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != module and not module.startswith(f"{name}."):  # a package's own __init__
                edges.setdefault(name, line)
        graph[module] = edges
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_the_import_graph_has_no_cycle() -> None:
    """No module of the project imports, directly or through others, a module that imports it."""
    graph = import_graph()
    assert len(graph) > 50  # the walk found the project
    found = cycles(graph)
    edges = [f"{m} -> {t} (line {graph[m][t]})" for c in found for m in c for t in graph[m] if t in c]
    assert not found, f"import cycles among {found}: {'; '.join(edges)}"


def test_data_flows_features_training_serving() -> None:
    """features imports neither training nor serving; training does not import serving; only the CLI imports churn."""
    graph = import_graph()
    wrong = [
        f"{module} imports {target} (line {line})"
        for module, edges in graph.items()
        for target, line in edges.items()
        if target.split(".")[0] in FORBIDDEN.get(module.split(".")[0], set())
    ]
    assert not wrong, "; ".join(wrong)


def test_the_scorer_loads_without_the_fitting_code() -> None:
    """Importing the scorer loads no training code and no scikit-learn beyond what LightGBM itself imports.

    ``import lightgbm`` imports ``sklearn.base`` for its scikit-learn wrapper whenever
    scikit-learn is installed, so one fresh interpreter imports LightGBM first, then the scorer.
    """
    code = (
        "import sys, lightgbm; first = set(sys.modules); import serving.scorer; "
        "print(' '.join(sorted(set(sys.modules) - first)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    added = set(out.stdout.split())
    assert "serving.scorer" in added
    training = {m for m in added if m.startswith("training.") and not m.startswith("training.model")}
    assert training <= {"training.outcomes"}  # the eligibility rules of the labels, which scoring applies too
    assert not {m for m in added if m.split(".")[0] == "sklearn"}
