"""The model folder under faults: a writer killed at every step of the swap, byte-identical
retraining under another PYTHONHASHSEED, format versions and missing optional parts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner
from worlds import generated_world

from churn.cli import app
from features.atomic_write import atomic_folder
from features.loader import load_dataset
from features.write_lock import TargetBusy, lock_path
from training.artifact import write_model_folder
from training.lgbm import LGBMParams
from training.model.folder import FORMAT_VERSION, ModelFolderError, load_model_folder
from training.train import TrainConfig, train

FAST = TrainConfig(lgbm=LGBMParams(num_boost_round=40, early_stopping_rounds=15), folds=2)
ROOT = Path(__file__).resolve().parents[1]

# A writer in its own process that fills a staging folder from `source` and swaps it in at
# `target`, and dies with os._exit (no cleanup, like kill -9) right after the step `kill_at`.
WRITER = """
import os, shutil, sys
from pathlib import Path
from features import atomic_write

source, target, kill_at, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]

def step(name):
    if name == kill_at:
        os._exit(9)

atomic_write.after_step = step
if mode == "fallback":  # a filesystem without an atomic exchange
    atomic_write.exchange = lambda a, b: False
with atomic_write.atomic_folder(target) as staging:
    for i, file in enumerate(sorted(source.iterdir())):
        shutil.copy2(file, staging / file.name)
        if i == 2:
            step("filling")
"""
STEPS = {
    "exchange": ("filling", "staged", "exchanged", "cleaned"),
    "fallback": ("filling", "staged", "parked", "renamed", "cleaned"),
}
NEW_FROM = {"exchange": "exchanged", "fallback": "renamed"}  # the first step after which the new model is in place


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated_world(tmp_path_factory, accounts=300, months=15, seed=5)


@pytest.fixture(scope="module")
def folders(world_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two valid model folders told apart by their manifest's data_source: 'old' and 'new'."""
    base = tmp_path_factory.mktemp("models")
    result = train(load_dataset(world_dir), FAST)
    old = write_model_folder(result, base / "old", data_source="old", fingerprint="x")
    new = write_model_folder(result, base / "new", data_source="new", fingerprint="x")
    return old, new


def _write(source: Path, target: Path, kill_at: str, mode: str) -> int:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-c", WRITER, str(source), str(target), kill_at, mode]
    return subprocess.run(cmd, env=env, timeout=120, check=False).returncode


def _leftovers(target: Path) -> list[str]:
    return sorted(p.name for p in target.parent.iterdir() if p.name.startswith(f".{target.name}.") and p.is_dir())


@pytest.mark.parametrize("mode", ["exchange", "fallback"])
def test_a_writer_killed_at_any_step_of_the_swap_leaves_a_loadable_model(
    folders: tuple[Path, Path], tmp_path: Path, mode: str
) -> None:
    """Item 53 for the model folder: killed after every step of the swap, the target is the old
    or the new complete model, never absent; the next run removes the staging leftovers."""
    old, new = folders
    steps = STEPS[mode]
    for k, kill_at in enumerate(steps):
        target = tmp_path / f"{kill_at}" / "model"
        target.parent.mkdir()
        shutil.copytree(old, target)
        assert _write(new, target, kill_at, mode) == 9
        expected = "new" if k >= steps.index(NEW_FROM[mode]) else "old"
        assert load_model_folder(target).manifest["data_source"] == expected, kill_at
        if kill_at in ("filling", "staged", "exchanged"):
            assert _leftovers(target), f"{kill_at}: a killed run leaves its staging folder"
        assert _write(old, target, "never", mode) == 0
        assert load_model_folder(target).manifest["data_source"] == "old"
        assert _leftovers(target) == [], kill_at


def test_a_second_writer_of_the_folder_is_refused(folders: tuple[Path, Path], tmp_path: Path) -> None:
    """Item 58 for the model folder: while one process writes it, another is refused at once."""
    old, new = folders
    target = tmp_path / "model"
    shutil.copytree(old, target)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(target)], env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        with pytest.raises(TargetBusy, match=f"{target}: another writer \\(pid {holder.pid}\\)"), atomic_folder(target):
            pytest.fail("the block of a refused writer never runs")
    finally:
        holder.kill()
        holder.wait()
    assert load_model_folder(target).manifest["data_source"] == "old" and _leftovers(target) == []
    # The kernel dropped the killed holder's lock: no stale lock file blocks the next writer.
    assert lock_path(target).is_file()
    assert _write(new, target, "never", "exchange") == 0 and not lock_path(target).exists()
    assert load_model_folder(target).manifest["data_source"] == "new"


HOLDER = """
import sys, time
from features.write_lock import write_lock
with write_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(600)
"""


def test_two_trainings_under_different_hash_seeds_write_identical_folders(world_dir: Path, tmp_path: Path) -> None:
    """Item 60 for the whole folder: `churn train` twice with the same seed, PYTHONHASHSEED 1 and 2,
    gives byte-identical files (no clock time, no set order, no run id inside the folder)."""
    runs = []
    for seed in ("1", "2"):
        out = tmp_path / f"hash{seed}" / "model"
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        cmd = [sys.executable, "-m", "churn", "train", "--data", str(world_dir), "--out", str(out), "--no-mlflow"]
        cmd += ["--param", "num_boost_round=40", "--param", "early_stopping_rounds=15"]
        runs.append((out, subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)))
    for _, proc in runs:
        _, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, err.decode()[-2000:]
    (a, _), (b, _) = runs
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir()) and "scorecard.yaml" in names
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert "created_at" not in json.loads((a / "manifest.json").read_text())


LEARN = """
import json
import numpy as np, pandas as pd
from features.signals import SIGNALS, SIGNALS_BY_NAME
from training.scorecard import ScorecardConfig, candidate_signals, learn_card

names = candidate_signals([s.name for s in SIGNALS])
x = pd.DataFrame({n: np.random.default_rng(i).normal(size=400) for i, n in enumerate(names)})
# Three signals carry the model; every other one gets a tenth of a percent of its attention.
contrib = pd.DataFrame(
    {n: -(SIGNALS_BY_NAME[n].direction or 1) * x[n] * (1.0 if i < 3 else 1e-3) for i, n in enumerate(names)}
)
card, left_out = learn_card(x, contrib, ScorecardConfig())
print(json.dumps(left_out))
"""


def test_the_left_out_signals_do_not_depend_on_the_hash_seed() -> None:
    """The "under 0.2% of the model's attention" list keeps one order under any PYTHONHASHSEED (it came from a set)."""
    outputs = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        run = subprocess.run([sys.executable, "-c", LEARN], env=env, capture_output=True, timeout=300, check=True)
        outputs.add(run.stdout)
    assert len(outputs) == 1
    assert sum("attention" in reason for reason in json.loads(outputs.pop()).values()) >= 5


def _with_manifest(source: Path, target: Path, change) -> Path:
    shutil.copytree(source, target)
    manifest = json.loads((target / "manifest.json").read_text())
    change(manifest)
    (target / "manifest.json").write_text(json.dumps(manifest))
    return target


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda m: m.update(format_version=FORMAT_VERSION + 1), "is newer than the format this version reads"),
        (lambda m: m.update(format_version="1"), "format '1' is not the format"),
        (lambda m: m.pop("format_version"), "from before format versions"),
    ],
)
def test_unknown_format_versions_are_refused(folders, world_dir: Path, tmp_path: Path, change, reason: str) -> None:
    """A future, malformed or missing format_version is refused with one line: on load and by `churn score` (exit 2)."""
    folder = _with_manifest(folders[0], tmp_path / "m", change)
    with pytest.raises(ModelFolderError, match=reason):
        load_model_folder(folder)
    out = tmp_path / "s.parquet"
    result = CliRunner().invoke(
        app, ["score", "--data", str(world_dir), "--model", str(folder), "--as-of", "latest", "--out", str(out)]
    )
    assert result.exit_code == 2 and reason in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1 and not out.exists()


def test_a_missing_scorecard_is_a_warning_not_a_silent_nan(folders, world_dir: Path, tmp_path: Path) -> None:
    """A folder without scorecard.yaml or reference.json loads, and says what is missing."""

    def drop(manifest: dict) -> None:
        manifest["editable"].pop("scorecard.yaml")
        manifest["files"].pop("reference.json")

    folder = _with_manifest(folders[0], tmp_path / "m", drop)
    (folder / "scorecard.yaml").unlink()
    (folder / "reference.json").unlink()
    bundle = load_model_folder(folder)
    assert bundle.scorecard is None and len(bundle.warnings) == 2
    assert "no scorecard.yaml: health_score will be empty" in bundle.warnings[0]
    assert "no reference.json" in bundle.warnings[1]
    assert load_model_folder(folders[0]).warnings == ()
    out = tmp_path / "s.parquet"
    result = CliRunner().invoke(
        app, ["score", "--data", str(world_dir), "--model", str(folder), "--as-of", "latest", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output and "no scorecard.yaml" in result.output
