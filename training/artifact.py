"""The model folder: one self-contained artefact per training run.

What training saves is exactly what scoring and explaining load::

    <outcome>.lgbm.txt          LightGBM native text (never a pickle)
    <outcome>.calibrator.json   calibrator breakpoints or Platt coefficients
    features.json               feature spec (names, order, categories), config, skipped signals
    metrics.json                test metrics of every model and baseline
    model_card.md               data window, metrics, intended use, limits
    scorecard.yaml              the health scorecard (when churn is an outcome), for people to edit
    reference.json              binned training distributions of every input and of the churn
                                probability, the baseline of ``churn drift`` (absent in older folders)
    manifest.json               format version, model version, data fingerprint, git commit,
                                SHA-256 of every file

The folder is filled in a staging sibling and swapped in atomically
(:func:`features.atomic_write.atomic_folder`): a failed or killed run leaves the previous
model intact, and two runs writing the same folder are refused rather than interleaved. Two
runs on the same data with the same seed write byte-identical folders (no clock time, no
set order, no run id inside). Loading refuses a ``format_version`` other than
:data:`FORMAT_VERSION` and warns about a missing optional part. It verifies every checksum
before parsing a file, except for the files meant to be edited (``scorecard.yaml``): the manifest records their
original SHA-256 under ``editable``, and loading validates their content instead (an
invalid edit is refused with a one-line reason; ``ModelBundle.scorecard_edited`` says
whether the file differs from what training wrote).
"""

from __future__ import annotations

import hashlib
import json
import subprocess  # noqa: S404 - only to read the git commit, with a fixed argument list
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

from features.atomic_write import atomic_folder, recover_folder
from training.calibration import Calibrator
from training.lgbm import CalibratedBooster
from training.matrix import FeatureSpec
from training.model_card import render_model_card
from training.outcomes import OUTCOMES as OUTCOME_NAMES
from training.scorecard import Scorecard, ScorecardError, dump_scorecard, load_scorecard
from training.train import TrainingResult

MANIFEST = "manifest.json"
SCORECARD = "scorecard.yaml"
REFERENCE = "reference.json"
EDITABLE = (SCORECARD,)  # checked by content, not by checksum
# The layout of the folder. Bump it when a reader of the old layout would misread the new one;
# loading refuses any other version (and folders from before versions were recorded).
FORMAT_VERSION = 1
OPTIONAL_PARTS = {
    SCORECARD: "health_score will be empty (no health scorecard)",
    REFERENCE: "`churn drift` has no baseline (no reference profile)",
}


class ModelFolderError(ValueError):
    """The model folder is missing, incomplete or corrupted."""


@dataclass(frozen=True)
class ModelBundle:
    """A model folder loaded and verified: what scoring needs."""

    path: Path
    spec: FeatureSpec
    outcomes: dict[str, CalibratedBooster]
    manifest: dict[str, Any]
    metrics: dict[str, Any]
    features: dict[str, Any]
    scorecard: Scorecard | None = None
    scorecard_edited: bool = False
    reference: dict[str, Any] | None = None  # drift reference profile; None for folders written before it existed
    warnings: tuple[str, ...] = field(default=())  # optional parts missing, one line each

    @property
    def version(self) -> str:
        return str(self.manifest["model_version"])


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def data_fingerprint(path: Path) -> str:
    """SHA-256 over the dataset's files (names and bytes), or of a single file."""
    digest = hashlib.sha256()
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


def write_model_folder(
    result: TrainingResult, out: Path, *, data_source: str, fingerprint: str, extra_files: dict[str, str] | None = None
) -> Path:
    """Write the folder atomically and return its path."""
    with atomic_folder(Path(out)) as tmp:
        for name, model in result.models.items():
            (tmp / f"{name}.lgbm.txt").write_text(
                model.booster.model_to_string(num_iteration=model.booster.best_iteration)
            )
            (tmp / f"{name}.calibrator.json").write_text(json.dumps(model.calibrator.to_dict(), indent=1))
        features = {
            "spec": result.spec.to_dict(),
            "outcomes": list(result.models),
            "skipped_signals": list(result.skipped_signals),
            "config": _jsonable(asdict(result.config)),
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


def load_model_folder(path: Path) -> ModelBundle:
    """Load a model folder, verifying every file's SHA-256 against the manifest before parsing it."""
    path = Path(path)
    manifest = read_manifest(path)
    files: dict[str, str] = manifest["files"]
    # Only checksummed files are parsed, and only as JSON, YAML or LightGBM text: nothing here unpickles.
    unlisted = [
        f
        for f in (
            "features.json",
            "metrics.json",
            *(f"{o}.{k}" for o in manifest.get("outcomes", []) for k in ("lgbm.txt", "calibrator.json")),
        )
        if f not in files
    ]
    strange = [o for o in manifest.get("outcomes", []) if o not in OUTCOME_NAMES]
    if strange or unlisted:
        raise ModelFolderError(
            f"{path}: the manifest names {(strange or unlisted)[0]!r} "
            f"{'as an outcome' if strange else 'without a checksum'}; refused"
        )
    outside = [name for name in files if Path(name).name != name]
    if outside:
        raise ModelFolderError(f"{path}: the manifest lists {outside[0]!r}, outside the folder; refused")
    for name, expected in files.items():
        file = path / name
        if not file.is_file():
            raise ModelFolderError(f"{path}: {name} is missing")
        if sha256_file(file) != expected:
            raise ModelFolderError(f"{path}: {name} does not match its SHA-256 in the manifest (corrupted or edited)")
    features = json.loads((path / "features.json").read_text())
    outcomes = {}
    for name in manifest["outcomes"]:
        try:
            booster = lgb.Booster(model_str=(path / f"{name}.lgbm.txt").read_text())
        except lgb.basic.LightGBMError as exc:
            raise ModelFolderError(f"{path}: {name}.lgbm.txt is not a LightGBM model ({exc})") from exc
        calibrator = Calibrator.from_dict(json.loads((path / f"{name}.calibrator.json").read_text()))
        outcomes[name] = CalibratedBooster(booster, calibrator)
    metrics = json.loads((path / "metrics.json").read_text())
    scorecard, edited = None, False
    if SCORECARD in manifest.get("editable", {}):
        file = path / SCORECARD
        if not file.is_file():
            raise ModelFolderError(f"{path}: {SCORECARD} is missing")
        try:
            scorecard = load_scorecard(file.read_text())
        except ScorecardError as exc:
            raise ModelFolderError(f"{file}: {exc}") from exc
        edited = sha256_file(file) != manifest["editable"][SCORECARD]
    reference = json.loads((path / REFERENCE).read_text()) if REFERENCE in files else None
    warnings = missing_parts(path, manifest, features)  # callers show them: the CLI on stderr, the API in its log
    return ModelBundle(
        path,
        FeatureSpec.from_dict(features["spec"]),
        outcomes,
        manifest,
        metrics,
        features,
        scorecard,
        edited,
        reference,
        warnings,
    )


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest of the folder at ``path``, refused unless its ``format_version`` is this code's."""
    recover_folder(path)  # a writer killed mid-swap on a filesystem without atomic exchange
    manifest_file = path / MANIFEST
    if not manifest_file.is_file():
        raise ModelFolderError(f"{path} is not a model folder (no {MANIFEST})")
    try:
        manifest = json.loads(manifest_file.read_text())
        manifest["files"]  # noqa: B018 - present in every version
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelFolderError(f"{manifest_file}: unreadable manifest ({exc})") from exc
    version = manifest.get("format_version")
    if version is None:
        raise ModelFolderError(
            f"{path}: model folder from before format versions (no format_version in {MANIFEST}); "
            f"retrain it with `churn train` (this version reads format {FORMAT_VERSION})"
        )
    if version != FORMAT_VERSION:
        newer = isinstance(version, int) and version > FORMAT_VERSION
        raise ModelFolderError(
            f"{path}: model folder format {version!r} is {'newer than' if newer else 'not'} the format this version "
            f"reads ({FORMAT_VERSION}); {'upgrade churn-health' if newer else 'retrain it with `churn train`'}"
        )
    return manifest


def missing_parts(path: Path, manifest: dict[str, Any], features: dict[str, Any]) -> tuple[str, ...]:
    """One warning per optional part an event-data folder lacks (a model from a table never has them)."""
    if "id_column" in features:
        return ()
    listed = set(manifest["files"]) | set(manifest.get("editable", {}))
    if "churn" not in manifest.get("outcomes", []):
        listed.add(SCORECARD)  # the scorecard is learned from the churn model only
    missing = [(name, effect) for name, effect in OPTIONAL_PARTS.items() if name not in listed]
    return tuple(f"{path}: no {name}: {effect}; retrain to get it" for name, effect in missing)
