"""Reading a model folder: verified, then parsed into what scoring and explaining need.

A folder holds::

    <outcome>.lgbm.txt          LightGBM native text (never a pickle)
    <outcome>.calibrator.json   calibrator breakpoints or Platt coefficients
    features.json               feature spec (names, order, categories), training parameters, skipped signals
    metrics.json                test metrics of every model and baseline
    model_card.md               data window, metrics, intended use, limits
    scorecard.yaml              the health scorecard (when churn is an outcome), for people to edit
    settings.toml               the settings the model was trained with ([features] with the chosen
                                event types, [outcomes], [input]; ``features.settings``): their one
                                copy, which scoring, drift, the report and the API use
    reference.json              binned training distributions of every input and of the churn
                                probability, the baseline of ``churn drift`` (absent in older folders)
    manifest.json               format version, model version, data fingerprint, git commit,
                                SHA-256 of every file

Loading refuses a ``format_version`` other than :data:`FORMAT_VERSION` and warns about a
missing optional part. It verifies every checksum before parsing a file, except for the files
meant to be edited (``scorecard.yaml``): the manifest records their original SHA-256 under
``editable``, and loading validates their content instead (an invalid edit is refused with a
one-line reason; ``ModelBundle.scorecard_edited`` says whether the file differs from what
training wrote). Writing a folder is :mod:`training.artifact`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb

from features.atomic_write import recover_folder
from features.settings import SETTINGS_FILE, Settings, SettingsError, parse_settings
from training.model.booster import CalibratedBooster
from training.model.calibrator import Calibrator
from training.model.matrix import FeatureSpec
from training.model.scorecard_core import Scorecard, ScorecardError
from training.model.scorecard_file import load_scorecard
from training.outcomes import OUTCOMES as OUTCOME_NAMES

MANIFEST = "manifest.json"
SCORECARD = "scorecard.yaml"
REFERENCE = "reference.json"
EDITABLE = (SCORECARD,)  # checked by content, not by checksum
# The layout of the folder. Bump it when a reader of the old layout would misread the new one;
# loading refuses any other version (and folders from before versions were recorded).
FORMAT_VERSION = 2  # 2: features and outcome settings only in settings.toml (with the chosen event types)
# Keys every manifest of this format has; a manifest lacking one is refused by name.
MANIFEST_KEYS = ("format_version", "model_version", "files", "outcomes")
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
    settings: Settings | None = None  # settings.toml; None only for a model trained on a table
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
    settings = None
    if SETTINGS_FILE in files:
        try:
            settings = parse_settings((path / SETTINGS_FILE).read_text(), str(path / SETTINGS_FILE))
        except SettingsError as exc:
            raise ModelFolderError(str(exc)) from exc
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
        settings,
        warnings,
    )


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest of the folder at ``path``, refused unless its ``format_version`` is this code's."""
    recover_folder(path)  # a writer killed mid-swap on a filesystem without atomic exchange
    manifest_file = path / MANIFEST
    if not manifest_file.is_file():
        raise ModelFolderError(f"{path} is not a model folder (no {MANIFEST})")
    try:
        manifest: dict[str, Any] = json.loads(manifest_file.read_text())
        manifest["files"]  # noqa: B018 - present in every version
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelFolderError(f"{manifest_file}: unreadable manifest ({exc})") from exc
    if not isinstance(manifest["files"], dict):
        raise ModelFolderError(f"{manifest_file}: 'files' must map file names to SHA-256 checksums; refused")
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
    lacking = [key for key in MANIFEST_KEYS if key not in manifest]
    if lacking:
        raise ModelFolderError(f"{manifest_file} lacks the key {lacking[0]!r}; refused (retrain with `churn train`)")
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
