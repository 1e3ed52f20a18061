"""Drift monitoring: PSI arithmetic, the reference profile in the model folder, `churn drift`."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner
from worlds import generated_world

from churn.cli import app
from features.builders import build_features
from features.loader import load_dataset
from features.signals import SIGNALS, vocabulary_signals
from serving.drift import HISTORY, NoReferenceError, Thresholds, crossed, dataset_drift, drift_table
from serving.scorer import Scorer, eligible_features
from training.artifact import write_model_folder
from training.lgbm import LGBMParams
from training.model.folder import ModelFolderError, load_model_folder
from training.reference_profile import EPSILON, numeric_profile, psi, psi_from_shares
from training.train import TrainConfig, train

FAST = TrainConfig(
    outcomes=("churn",),
    lgbm=LGBMParams(num_boost_round=60, early_stopping_rounds=20),
    folds=3,
)
SHIFTED = "arr"  # a model input with a continuous distribution; x3 is a currency mix-up
# The counts over long windows and all history (issue 18): capped by the event history in the data.
GROWING = {f"{kind}_{window}" for kind in ("events", "active_weeks", "quantity") for window in ("180d", "365d", "all")}


# --- PSI arithmetic ---------------------------------------------------------------------


def test_psi_matches_a_hand_computed_value() -> None:
    """It computes sum((a - e) * ln(a / e)) over the bins, the missing bin included."""
    profile = {"kind": "numeric", "edges": [1.0, 2.0], "shares": [0.5, 0.3, 0.2], "missing": 0.0}
    # New values: two in (-inf, 1], one in (1, 2], none above 2, one missing.
    values = np.array([0.5, 1.0, 1.5, np.nan])
    expected = (
        (0.5 - 0.5) * math.log(0.5 / 0.5)
        + (0.25 - 0.3) * math.log(0.25 / 0.3)
        + (EPSILON - 0.2) * math.log(EPSILON / 0.2)
        + (0.25 - EPSILON) * math.log(0.25 / EPSILON)
    )
    assert psi(profile, values) == pytest.approx(expected, rel=1e-12)
    assert psi(profile, values) == pytest.approx(0.0091161 + 1.5194204 + 1.9552291, abs=1e-6)  # by hand


def test_psi_is_zero_for_the_reference_itself_and_grows_with_the_shift() -> None:
    """It gives 0 for the reference sample and a larger PSI for a larger shift."""
    x = np.random.default_rng(0).normal(size=5000)
    profile = numeric_profile(x)
    assert len(profile["edges"]) == 9 and psi(profile, x) == pytest.approx(0.0, abs=1e-12)
    shifts = [psi(profile, x + d) for d in (0.1, 0.5, 1.0)]
    assert shifts == sorted(shifts) and shifts[0] < 0.1 <= shifts[1] and shifts[2] >= 0.25


def test_empty_bins_use_epsilon_not_infinity() -> None:
    """It stays finite when a bin is empty on either side."""
    assert np.isfinite(psi_from_shares(np.array([1.0, 0.0]), np.array([0.0, 1.0])))
    assert psi_from_shares(np.array([0.5, 0.5, 0.0]), np.array([0.5, 0.5, 0.0])) == 0.0


def test_constant_and_all_missing_features() -> None:
    """It reads no drift while a constant stays constant or a missing feature stays missing,
    and flags a change of either."""
    constant = numeric_profile(np.full(100, 3.0))
    assert constant["edges"] == [3.0] and constant["shares"] == [1.0, 0.0]
    assert psi(constant, np.full(50, 3.0)) == 0.0
    assert psi(constant, np.full(50, 4.0)) >= 0.25
    missing = numeric_profile(np.full(100, np.nan))
    assert missing["edges"] == [] and missing["missing"] == 1.0
    assert psi(missing, np.full(50, np.nan)) == 0.0
    assert psi(missing, np.arange(50.0)) >= 0.25


def test_thresholds_classify_and_refuse_nonsense() -> None:
    """It labels ok below 0.1, watch below 0.25 and act from 0.25, and refuses watch > act."""
    t = Thresholds()
    assert [t.status(v) for v in (0.0, 0.0999, 0.1, 0.2499, 0.25, 3.0, float("nan"))] == [
        "ok",
        "ok",
        "watch",
        "watch",
        "act",
        "act",
        "n/a",
    ]
    with pytest.raises(ValueError, match="watch <= act"):
        Thresholds(watch=0.3, act=0.2)


def test_only_the_long_window_counts_grow_with_history() -> None:
    """It declares the counts over 180/365 days and all history, and no other signal, as growing with history."""
    declared = {s.name for s in (*SIGNALS, *vocabulary_signals(["login", "export"])) if s.grows_with_history}
    assert declared == GROWING


def test_history_rows_never_cross_a_threshold() -> None:
    """It leaves a history row out of the crossed rows whatever its PSI, and keeps the others worst first."""
    table = pd.DataFrame(
        {"feature": ["a", "events_all", "b"], "psi": [0.3, 5.0, 0.6], "status": ["act", HISTORY, "act"]}
    )
    assert crossed(table, 0.25)["feature"].tolist() == ["b", "a"]
    assert crossed(table, 1.0).empty


# --- on a trained model -------------------------------------------------------------------


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated_world(tmp_path_factory, accounts=300, months=15, seed=3)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, world_dir: Path) -> Path:
    result = train(load_dataset(world_dir), FAST)
    out = tmp_path_factory.mktemp("model") / "model"
    return write_model_folder(result, out, data_source=str(world_dir), fingerprint="x")


@pytest.fixture(scope="module")
def later(model_dir: Path, world_dir: Path) -> tuple[pd.Timestamp, pd.DataFrame]:
    """Two months after the newest reference snapshot: what the scorer would rank then."""
    bundle = load_model_folder(model_dir)
    as_of = pd.Timestamp(bundle.reference["source"]["as_of"][-1], tz="UTC") + pd.DateOffset(months=2)
    dataset = load_dataset(world_dir)
    rows = eligible_features(dataset, build_features(dataset, [as_of]).frame, Scorer(bundle).outcome_config)
    return as_of, rows


def test_the_model_folder_carries_a_checksummed_reference(model_dir: Path) -> None:
    """It writes reference.json with a profile per model input and the churn probability, listed in the manifest."""
    bundle = load_model_folder(model_dir)
    assert "reference.json" in bundle.manifest["files"]
    assert list(bundle.reference["features"]) == bundle.spec.names
    assert set(bundle.reference["predictions"]) == {"churn_probability"}
    for profile in bundle.reference["features"].values():
        assert sum(profile["shares"]) + profile["missing"] == pytest.approx(1.0)
        assert len(profile["shares"]) == len(profile["edges"]) + 1 <= 10


def test_unshifted_data_crosses_no_act_threshold(model_dir: Path, later) -> None:
    """It flags nothing at the act threshold on a later snapshot of the same world; the long-window
    counts, whose PSI grows as the world ages (active_weeks_all about 5.9 here), show it as history."""
    table = drift_table(load_model_folder(model_dir), later[1])
    assert list(table.columns) == ["feature", "psi", "status"]
    assert table["feature"].iloc[-1] == "churn_probability" and table["psi"].notna().all()
    history = table["status"] == HISTORY
    growing = GROWING & set(table["feature"])
    assert growing and set(table.loc[history, "feature"]) == growing
    assert table.loc[history, "psi"].max() >= 0.25  # shown, though it does not alarm
    assert (table.loc[~history, "psi"] < 0.25).all(), table[~history].sort_values("psi").tail(3)
    assert "act" not in set(table["status"])


def test_shifting_one_feature_flags_exactly_that_feature(model_dir: Path, later) -> None:
    """It flags exactly the one input whose distribution was shifted (x3)."""
    shifted = later[1].assign(**{SHIFTED: later[1][SHIFTED] * 3})
    table = drift_table(load_model_folder(model_dir), shifted)
    inputs = table[(table["feature"] != "churn_probability") & (table["status"] != HISTORY)]
    assert set(inputs.loc[inputs["psi"] >= 0.25, "feature"]) == {SHIFTED}
    assert set(inputs.loc[inputs["status"] == "act", "feature"]) == {SHIFTED}


def test_a_dormant_population_moves_the_churn_probability(model_dir: Path, later) -> None:
    """It flags the predicted churn probability when every account looks dormant and unhappy."""
    bundle = load_model_folder(model_dir)
    rows = later[1]
    quiet = {
        c: 0.0
        for c in (
            "active_users_7d",
            "active_users_30d",
            "active_users_90d",
            "active_days_30d",
            "features_used_30d",
            "licence_utilisation",
            "engagement_score",
        )
        if c in rows
    }
    dormant = rows.assign(days_since_last_activity=120.0, **quiet)
    before = drift_table(bundle, rows).set_index("feature")["psi"]["churn_probability"]
    after = drift_table(bundle, dormant).set_index("feature")["psi"]["churn_probability"]
    # Unshifted, the PSI of a few hundred accounts in ten bins is sampling noise (0.05-0.12 measured
    # across models of this world): below "act", where the dormant population lands.
    assert before < 0.25 <= after and after > 4 * before, (before, after)


def test_dataset_drift_scores_the_scorers_population(model_dir: Path, world_dir: Path, later) -> None:
    """It compares the accounts the scorer would rank at as_of."""
    table, accounts = dataset_drift(load_dataset(world_dir), load_model_folder(model_dir), later[0])
    assert accounts == len(later[1])
    pd.testing.assert_frame_equal(table, drift_table(load_model_folder(model_dir), later[1]))


def test_an_old_model_folder_without_reference_still_loads(tmp_path: Path, model_dir: Path, world_dir: Path) -> None:
    """It loads a folder written before reference.json existed, and drift says to retrain."""
    old = tmp_path / "old"
    shutil.copytree(model_dir, old)
    (old / "reference.json").unlink()
    manifest = json.loads((old / "manifest.json").read_text())
    del manifest["files"]["reference.json"]
    (old / "manifest.json").write_text(json.dumps(manifest))
    bundle = load_model_folder(old)
    assert bundle.reference is None
    with pytest.raises(NoReferenceError, match="no reference profile.*retrain"):
        drift_table(bundle, pd.DataFrame())
    result = CliRunner().invoke(app, ["drift", "--model", str(old), "--data", str(world_dir), "--as-of", "2025-01-01"])
    assert result.exit_code == 2 and "no reference profile" in result.output


def test_a_tampered_reference_is_refused(tmp_path: Path, model_dir: Path) -> None:
    """It refuses a reference.json that differs from its manifest checksum."""
    copy = tmp_path / "m"
    shutil.copytree(model_dir, copy)
    doc = json.loads((copy / "reference.json").read_text())
    doc["features"][SHIFTED]["shares"][0] += 0.1
    (copy / "reference.json").write_text(json.dumps(doc))
    with pytest.raises(ModelFolderError, match="reference.json does not match its SHA-256"):
        load_model_folder(copy)


# --- CLI ----------------------------------------------------------------------------------


def test_cli_exits_3_on_drift_and_0_without(tmp_path: Path, model_dir: Path, world_dir: Path, later) -> None:
    """`churn drift` prints the table, writes JSON and exits 0 below the threshold and 3 at or above it;
    history rows are listed but never make it exit 3."""
    runner = CliRunner()
    as_of = f"{later[0]:%Y-%m-%d}"
    base = ["drift", "--model", str(model_dir), "--data", str(world_dir), "--as-of", as_of]
    calm = runner.invoke(app, [*base, "--json", str(tmp_path / "d.json")])
    assert calm.exit_code == 0, calm.output
    assert "churn_probability" in calm.output and "no drift" in calm.output
    doc = json.loads((tmp_path / "d.json").read_text())
    assert doc["crossed"] == [] and len(doc["rows"]) == len(load_model_folder(model_dir).spec.names) + 1
    psis = [r["psi"] for r in doc["rows"]]
    assert psis == sorted(psis, reverse=True)
    history = {r["feature"] for r in doc["rows"] if r["status"] == HISTORY}
    assert history and "history" in calm.output
    compared = [r for r in doc["rows"] if r["feature"] not in history]
    low = compared[0]["psi"] / 2  # a threshold the largest compared PSI crosses
    alarm = runner.invoke(app, [*base, "--threshold", str(low), "--json", str(tmp_path / "d.json")])
    assert alarm.exit_code == 3, alarm.output
    flagged = json.loads((tmp_path / "d.json").read_text())["crossed"]
    assert flagged[0] == compared[0]["feature"] and not history & set(flagged)


def test_cli_bad_input_exits_2(tmp_path: Path, model_dir: Path, world_dir: Path) -> None:
    """It exits 2 with a one-line reason for a missing model folder, a bad date or a negative threshold."""
    runner = CliRunner()
    missing = runner.invoke(
        app, ["drift", "--model", str(tmp_path / "nope"), "--data", str(world_dir), "--as-of", "2025-01-01"]
    )
    assert missing.exit_code == 2 and "not a model folder" in missing.output
    bad_date = runner.invoke(
        app, ["drift", "--model", str(model_dir), "--data", str(world_dir), "--as-of", "2025-13-01"]
    )
    assert bad_date.exit_code == 2 and "not a date" in bad_date.output
    negative = runner.invoke(
        app,
        ["drift", "--model", str(model_dir), "--data", str(world_dir), "--as-of", "2025-01-01", "--threshold", "-1"],
    )
    assert negative.exit_code == 2
