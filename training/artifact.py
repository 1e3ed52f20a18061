"""Writing the model folder: one self-contained artefact per training run.

What training saves is exactly what scoring and explaining load (the layout, and how a
folder is read and verified, are :mod:`training.model.folder`). The folder is filled in a
staging sibling and swapped in atomically (:func:`features.atomic_write.atomic_folder`): a
failed or killed run leaves the previous model intact, and two runs writing the same folder
are refused rather than interleaved. Two runs on the same data with the same seed write
byte-identical folders (no clock time, no set order, no run id inside).
"""

from __future__ import annotations

import hashlib
import json
import subprocess  # noqa: S404 - only to read the git commit, with a fixed argument list
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from features.atomic_write import atomic_folder
from features.domain import OutcomeRules
from features.settings import SETTINGS_FILE, InputMapping, Settings, dump_settings
from training.model.folder import EDITABLE, FORMAT_VERSION, MANIFEST, REFERENCE, SCORECARD, sha256_file
from training.model.scorecard_file import dump_scorecard
from training.model_card import render_model_card
from training.train import TrainingResult


def data_fingerprint(path: Path | str) -> str:
    """SHA-256 over the dataset's files (names and bytes), or of a single file; of the location's
    text for a dataset only Spark reads (a URI or a catalog prefix, whose bytes are not here)."""
    digest = hashlib.sha256()
    if isinstance(path, str):
        digest.update(path.encode())
        return digest.hexdigest()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        digest.update(file.name.encode())
        digest.update(sha256_file(file).encode())
    return digest.hexdigest()


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],  # noqa: S607 - git from PATH, fixed arguments
            capture_output=True,
            text=True,
            timeout=5,  # noqa: S607
            cwd=Path(__file__).resolve().parent,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def metrics_document(result: TrainingResult) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "folds": {f: [d.strftime("%Y-%m-%d") for d in dates] for f, dates in result.dates.items()},
        "cadence": getattr(result, "every", "1M"),
        "backtest": [f.describe() for f in getattr(result, "backtest", ())],
        "outcomes": {},
    }
    for name, model in result.models.items():
        doc["outcomes"][name] = {
            **model.metrics,
            "calibration": {"method": model.calibrator.method, "cross_fit_log_loss": model.calibration_choice},
            "rows": model.rows,
            "folds": list(getattr(model, "folds", ())),
        }
    scorecard = getattr(result, "scorecard", None)
    if scorecard is not None and "backtest" in scorecard.info:
        doc["health_score"] = scorecard.info["backtest"]
    return doc


def trained_settings(result: TrainingResult, mapping: InputMapping | None = None) -> Settings:
    """The settings a training run used: its feature and outcome configs, and the input mapping given."""
    outcome = result.config.outcome
    rules = OutcomeRules(**{k: getattr(outcome, k) for k in OutcomeRules.__dataclass_fields__})
    return Settings(result.config.features, rules, mapping or InputMapping())


def write_model_folder(
    result: TrainingResult,
    out: Path,
    *,
    data_source: str,
    fingerprint: str,
    extra_files: dict[str, str] | None = None,
    mapping: InputMapping | None = None,
) -> Path:
    """Write the folder atomically and return its path; ``mapping`` is the input mapping saved in settings.toml."""
    with atomic_folder(Path(out)) as tmp:
        (tmp / SETTINGS_FILE).write_text(dump_settings(trained_settings(result, mapping)))
        for name, model in result.models.items():
            (tmp / f"{name}.lgbm.txt").write_text(
                model.booster.model_to_string(num_iteration=model.booster.best_iteration)
            )
            (tmp / f"{name}.calibrator.json").write_text(json.dumps(model.calibrator.to_dict(), indent=1))
        features = {
            "spec": result.spec.to_dict(),
            "outcomes": list(result.models),
            "skipped_signals": list(result.skipped_signals),
            # features and outcomes live in settings.toml, written once; the rest of the run's config for the record
            "training": _jsonable({k: v for k, v in asdict(result.config).items() if k not in ("features", "outcome")}),
        }
        (tmp / "features.json").write_text(json.dumps(features, indent=1))
        metrics = metrics_document(result)
        (tmp / "metrics.json").write_text(json.dumps(_jsonable(metrics), indent=1, allow_nan=False))
        for name, text in (extra_files or {}).items():
            (tmp / name).write_text(text)
        if result.scorecard is not None:
            (tmp / SCORECARD).write_text(dump_scorecard(result.scorecard))
        if (reference := getattr(result, "reference", None)) is not None:
            (tmp / REFERENCE).write_text(json.dumps(_jsonable(reference), indent=1, allow_nan=False))
        model_hash = hashlib.sha256(
            "".join(sha256_file(tmp / f"{n}.lgbm.txt") for n in sorted(result.models)).encode()
        ).hexdigest()
        manifest = new_manifest(model_hash, data_source, fingerprint, list(result.models))
        (tmp / "model_card.md").write_text(render_model_card(result, metrics, manifest))
        write_manifest(tmp, manifest)
    return Path(out)


def write_tabular_folder(result: Any, out: Path, *, source: str) -> Path:
    """Model folder for a model trained on the user's own table (``training.tabular``)."""
    with atomic_folder(Path(out)) as tmp:
        name = "churn"
        (tmp / f"{name}.lgbm.txt").write_text(result.booster.model_to_string())
        (tmp / f"{name}.calibrator.json").write_text(json.dumps(result.calibrator.to_dict(), indent=1))
        features = {
            "spec": result.spec.to_dict(),
            "outcomes": [name],
            "id_column": result.id_column,
            "label": result.label,
            "positive": result.positive,
            "dropped": dict(result.dropped),
            "notes": list(result.notes),
        }
        (tmp / "features.json").write_text(json.dumps(_jsonable(features), indent=1))
        metrics = {"validation": result.validation, "outcomes": {name: result.metrics}}
        (tmp / "metrics.json").write_text(json.dumps(_jsonable(metrics), indent=1, allow_nan=False))
        model = result.metrics.get("model", {})
        card = (
            f"# Model card: {result.label} == {result.positive!r} from `{source}`\n\n"
            f"Validation: {result.validation}.\n\n"
            f"ROC-AUC {model.get('roc_auc', float('nan')):.3f} (std {model.get('roc_auc_std', float('nan')):.3f}), "
            f"PR-AUC {model.get('pr_auc', float('nan')):.3f}, Brier {model.get('brier', float('nan')):.3f}, "
            f"ECE {model.get('ece', float('nan')):.3f}; logistic baseline ROC-AUC "
            f"{result.metrics.get('logistic', {}).get('roc_auc', float('nan')):.3f}.\n\n"
            f"Features: {len(result.spec.names)}; dropped: "
            + (", ".join(f"{k} ({v})" for k, v in result.dropped.items()) or "none")
            + ".\n"
        )
        (tmp / "model_card.md").write_text(card)
        model_hash = sha256_file(tmp / f"{name}.lgbm.txt")
        write_manifest(tmp, new_manifest(model_hash, source, data_fingerprint(Path(source)), [name]))
    return Path(out)


def new_manifest(model_hash: str, source: str, fingerprint: str, outcomes: list[str]) -> dict[str, Any]:
    # No clock time: two runs on the same data with the same seed give byte-identical folders
    # (MLflow records when a run happened; the data fingerprint says what it learned from).
    return {
        "format_version": FORMAT_VERSION,
        "model_version": model_hash[:12],
        "data_source": source,
        "data_fingerprint": fingerprint,
        "git_commit": git_commit(),
        "outcomes": outcomes,
    }


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Record every file's SHA-256 (editable files apart) and write manifest.json last."""
    files = {p.name: sha256_file(p) for p in sorted(folder.iterdir()) if p.is_file()}
    manifest["files"] = {k: v for k, v in files.items() if k not in EDITABLE}
    manifest["editable"] = {k: v for k, v in files.items() if k in EDITABLE}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, np.floating | np.integer):
        return _jsonable(value.item())
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
