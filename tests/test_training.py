"""Training: time-based validation, settled labels, determinism, the model folder and MLflow."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner
from worlds import generated_world

from churn.cli import app
from features.loader import load_dataset
from features.validation import data_end
from training.artifact import write_model_folder
from training.lgbm import LGBMParams
from training.model.folder import ModelFolderError, load_model_folder
from training.outcomes import build_labels
from training.tracking import log_training_run
from training.train import TrainConfig, Trees, refit, snapshot_dates, split_dates, train

FAST = TrainConfig(lgbm=LGBMParams(num_boost_round=60, early_stopping_rounds=20), folds=2)


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated_world(tmp_path_factory, accounts=400, months=18, seed=3)


@pytest.fixture(scope="module")
def trained(world_dir: Path):
    return train(load_dataset(world_dir), FAST)


def test_folds_are_ordered_in_time(trained) -> None:
    """Each backtest fold trains only on dates whose outcome window ends by its first test date (a gap of one horizon), later folds test later dates, every held-out prediction comes from
    a fold's test dates, and the served model learned from every settled date."""
    folds = trained.backtest
    assert len(folds) == FAST.folds
    gap = FAST.outcome.horizon
    for fold in folds:
        assert max(fold.train) + gap <= min(fold.test)
    assert [min(f.test) for f in folds] == sorted(min(f.test) for f in folds)
    assert max(folds[0].test) < min(folds[1].test)
    for name, model in trained.models.items():
        held = model.test_predictions
        for fold in folds:
            assert set(held.loc[held["fold"] == fold.index, "as_of"]) <= set(fold.test), name
        assert [f["fold"] for f in model.folds] == [f.index for f in folds]
    assert trained.dates["train"] == sorted(trained.frame["as_of"].unique())
    assert set(trained.dates["test"]) == {d for f in folds for d in f.test}


def test_modelling_frame_keeps_whole_numbers_in_float32_and_learns_the_same_trees(trained) -> None:
    """Counts and days are held as float32 (exact), ratios and money as float64; the same frame
    in float64 gives the same model, tree for tree."""
    frame = trained.frame
    narrow = [n for n in trained.spec.numeric if frame[n].dtype == np.float32]
    wide = [n for n in trained.spec.numeric if frame[n].dtype == np.float64]
    assert {"active_users_30d", "tickets_90d", "events_all"} <= set(narrow)
    assert {"arr", "nps", "licence_utilisation"} <= set(wide)
    widened = frame.astype({n: "float64" for n in narrow})
    pd.testing.assert_frame_equal(widened[narrow], frame[narrow].astype("float64"))
    spec = trained.spec
    labelled = widened[widened["churn"].notna()]
    chosen = trained.models["churn"].metrics["model"]
    trees = Trees(int(chosen["best_iteration"]), bool(chosen["linear_start"]))
    again = refit(labelled, "churn", spec, FAST, trees)
    assert again.model_to_string() == trained.models["churn"].booster.model_to_string()


def test_refusal_says_how_much_history_is_needed(world_dir: Path) -> None:
    """A history too short for one backtest fold at any cadence is refused with what it needs."""
    dataset = load_dataset(world_dir)
    end = data_end(dataset)
    short = TrainConfig(end=(end - pd.Timedelta(days=150)).date(), start=(end - pd.Timedelta(days=160)).date())
    with pytest.raises(ValueError, match=r"training needs at least \d+ monthly .* months of snapshot dates"):
        snapshot_dates(dataset, short)


def test_split_ignores_row_order(world_dir: Path) -> None:
    """It gives the same split for shuffled snapshot dates (no random split anywhere)."""
    dates = snapshot_dates(load_dataset(world_dir), FAST)
    shuffled = list(np.random.default_rng(0).permutation(np.array(dates, dtype=object)))
    assert split_dates(shuffled, FAST) == split_dates(dates, FAST)


def test_labels_never_use_data_past_the_newest_row(world_dir: Path, trained) -> None:
    """It only uses snapshot dates whose window and grace end before the newest data, and
    truncating the data after that point changes no label."""
    dataset = load_dataset(world_dir)
    end = data_end(dataset)
    cfg = FAST.outcome
    assert max(trained.frame["as_of"]) + cfg.horizon + cfg.grace <= end
    snaps = trained.frame[["account_id", "as_of"]]
    full = build_labels(dataset, snaps, ("churn", "renewal", "upsell"), cfg)
    cut = max(trained.frame["as_of"]) + cfg.horizon + cfg.grace
    truncated = {
        name: frame[~(frame[col] > cut)] if (col := _time_col(name)) in frame else frame
        for name, frame in dataset.tables.items()
    }
    short = build_labels(type(dataset)(truncated), snaps, ("churn", "renewal", "upsell"), cfg)
    settled = short["churn"].notna()
    pd.testing.assert_series_equal(full.loc[settled, "churn"], short.loc[settled, "churn"])


def _time_col(table: str) -> str:
    from features.contract import TABLE_SPECS

    return TABLE_SPECS[table].time_column or ""


def test_same_seed_same_model_file(world_dir: Path, trained) -> None:
    """It writes byte-identical model files for two runs with the same seed."""
    again = train(load_dataset(world_dir), FAST)
    for name in trained.models:
        first = trained.models[name].booster.model_to_string()
        second = again.models[name].booster.model_to_string()
        assert hashlib.sha256(first.encode()).hexdigest() == hashlib.sha256(second.encode()).hexdigest()


def test_model_folder_round_trip_and_checksums(tmp_path: Path, trained, world_dir: Path) -> None:
    """It reloads the folder with identical predictions and refuses a tampered model file."""
    folder = write_model_folder(trained, tmp_path / "model", data_source=str(world_dir), fingerprint="x")
    names = {p.name for p in folder.iterdir()}
    assert {"metrics.json", "model_card.md", "features.json", "manifest.json", "churn.lgbm.txt"} <= names
    assert not [n for n in names if n.endswith((".pkl", ".pickle", ".joblib"))]
    bundle = load_model_folder(folder)
    test = trained.frame[trained.frame["as_of"].isin(trained.dates["test"])]
    from training.model.matrix import to_matrix

    x = to_matrix(test, bundle.spec)
    assert np.array_equal(bundle.outcomes["churn"].predict(x), trained.models["churn"].predict(x))
    metrics = json.loads((folder / "metrics.json").read_text())
    assert set(metrics["outcomes"]["churn"]) >= {"model", "logistic", "equal_weight"}
    text = (folder / "churn.lgbm.txt").read_text()
    (folder / "churn.lgbm.txt").write_text(text.replace("tree", "tre3", 1))
    with pytest.raises(ModelFolderError, match="SHA-256"):
        load_model_folder(folder)


def test_mlflow_run_has_signature_metrics_plots_and_pyfunc(tmp_path: Path, trained, world_dir: Path) -> None:
    """It logs metrics, plots and a signed pyfunc per outcome that returns probabilities in [0, 1]."""
    folder = write_model_folder(trained, tmp_path / "model", data_source=str(world_dir), fingerprint="x")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run_id = log_training_run(trained, folder, tracking_uri=uri)
    client = mlflow.MlflowClient(uri)
    run = client.get_run(run_id)
    assert run.data.metrics["churn.roc_auc"] == pytest.approx(trained.models["churn"].metrics["model"]["roc_auc"])
    assert run.data.tags["data_fingerprint"] == "x" and "git_commit" in run.data.tags
    plots = {a.path for a in client.list_artifacts(run_id, "plots")}
    assert {
        "plots/churn_calibration.png",
        "plots/churn_lift.png",
        "plots/churn_shap_summary.png",
        "plots/churn_feature_importance.png",
    } <= plots
    info = mlflow.models.get_model_info(f"runs:/{run_id}/churn_model")
    assert info.signature is not None
    assert [c.name for c in info.signature.inputs.inputs] == trained.spec.names
    model = mlflow.pyfunc.load_model("models:/account-health-churn@champion")
    sample = trained.frame[trained.spec.names].head(50)
    proba = np.asarray(model.predict(sample))
    assert proba.shape == (50,) and np.all((proba >= 0) & (proba <= 1))
    local = Path(mlflow.artifacts.download_artifacts(info.model_uri, dst_path=str(tmp_path / "dl")))
    files = [p.name for p in local.rglob("*") if p.is_file()]
    assert "churn.lgbm.txt" in files
    assert not [f for f in files if f.endswith((".pkl", ".pickle", ".joblib"))], files


def test_cli_train_prints_metrics(tmp_path: Path, world_dir: Path) -> None:
    """`churn train` writes a model folder and prints a metrics table; bad flags exit 2."""
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(world_dir),
            "--out",
            str(tmp_path / "m"),
            "--outcomes",
            "churn",
            "--no-mlflow",
            "--param",
            "num_boost_round=40",
            "--param",
            "early_stopping_rounds=10",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "ROC-AUC" in result.output and (tmp_path / "m" / "churn.lgbm.txt").exists()
    bad = runner.invoke(app, ["train", "--data", str(world_dir), "--out", str(tmp_path / "m2"), "--param", "leaves=3"])
    assert bad.exit_code == 2 and "unknown LightGBM parameter" in bad.output


def test_activity_churn_needs_only_accounts_and_usage(tmp_path: Path, world_dir: Path) -> None:
    """It trains activity churn from accounts and usage events alone."""
    dataset = load_dataset(world_dir)
    only = type(dataset)({k: v for k, v in dataset.tables.items() if k in ("accounts", "usage_events")})
    from training.outcomes import OutcomeConfig

    cfg = TrainConfig(
        outcomes=("churn",),
        outcome=OutcomeConfig(churn_definition="activity"),
        lgbm=FAST.lgbm,
        folds=2,
    )
    result = train(only, cfg)
    assert 0.5 < result.models["churn"].metrics["model"]["roc_auc"] <= 1.0
    assert all(s in result.skipped_signals for s in ("arr", "nps"))


@pytest.mark.spark
def test_pyfunc_scores_in_spark_udf(tmp_path: Path, trained, world_dir: Path, spark) -> None:
    """It scores through mlflow.pyfunc.spark_udf with the same probabilities as in pandas."""
    folder = write_model_folder(trained, tmp_path / "model", data_source=str(world_dir), fingerprint="x")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run_id = log_training_run(trained, folder, tracking_uri=uri, register_as=None)
    model_uri = f"runs:/{run_id}/churn_model"
    sample = trained.frame[trained.spec.names].head(40).reset_index(drop=True)
    udf = mlflow.pyfunc.spark_udf(spark, model_uri, result_type="double", env_manager="local")
    frame = spark.createDataFrame(sample)
    scored = frame.withColumn("p", udf(*[frame[c] for c in trained.spec.names])).toPandas()
    expected = mlflow.pyfunc.load_model(model_uri).predict(sample)
    np.testing.assert_allclose(scored["p"].to_numpy(), np.asarray(expected), rtol=0, atol=1e-12)


def test_loader_never_unpickles(tmp_path: Path, trained, world_dir: Path) -> None:
    """Pickle bombs (an MLflow pyfunc folder, a .joblib beside the model, a pickle posing as the booster,
    a manifest pointing outside the folder) are refused or ignored, and never deserialized."""
    import pickle

    marker = tmp_path / "exploded"

    class Bomb:
        def __reduce__(self):
            return (Path.touch, (marker,))

    bomb = pickle.dumps(Bomb())
    pyfunc = tmp_path / "pyfunc"
    pyfunc.mkdir()
    (pyfunc / "MLmodel").write_text("flavors:\n  python_function:\n    loader_module: evil\n    data: model.pkl\n")
    (pyfunc / "model.pkl").write_bytes(bomb)
    with pytest.raises(ModelFolderError, match="not a model folder"):
        load_model_folder(pyfunc)

    folder = write_model_folder(trained, tmp_path / "model", data_source=str(world_dir), fingerprint="x")
    (folder / "model.joblib").write_bytes(bomb)  # an unlisted file is never read
    assert load_model_folder(folder).outcomes

    manifest_file = folder / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    (folder / "churn.lgbm.txt").write_bytes(bomb)  # a pickle where the booster belongs: its checksum fails
    with pytest.raises(ModelFolderError, match="SHA-256"):
        load_model_folder(folder)
    for edit, message in (
        ({"outcomes": [*manifest["outcomes"], "../evil"]}, "as an outcome"),
        ({"files": {k: v for k, v in manifest["files"].items() if k != "churn.lgbm.txt"}}, "without a checksum"),
        ({"files": {**manifest["files"], "../model.joblib": "0" * 64}}, "outside the folder"),
    ):
        manifest_file.write_text(json.dumps({**manifest, **edit}))
        with pytest.raises(ModelFolderError, match=message):
            load_model_folder(folder)
    assert not marker.exists()
