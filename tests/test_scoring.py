"""Batch scoring: exact SHAP flags, planted causes, atomic outputs, re-runs, Spark, CRM export."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner
from worlds import generated_world

from churn.cli import app
from features.builders import build_features
from features.loader import Dataset, load_dataset
from features.signals import SIGNALS_BY_NAME, TEXT_SIGNALS
from features.texts import recent_quotes
from serving.columns import SCORE_COLUMNS
from serving.crm import DEFAULT_MAPPING, crm_frame, read_export, write_crm
from serving.dataset_scoring import score_dataset
from serving.flags import check_additivity
from serving.outputs import read_scores, write_scores
from serving.scorer import Scorer, eligible_features, with_quote_column, with_trend
from training.artifact import write_model_folder
from training.lgbm import LGBMParams
from training.model.booster import raw_score
from training.model.matrix import to_matrix
from training.model.treeshap import TreeShap
from training.outcomes import OutcomeConfig
from training.train import TrainConfig, train

CONFIG = TrainConfig()  # the defaults `churn train` uses: explanations are judged on a real model
USAGE = {n for n, s in SIGNALS_BY_NAME.items() if s.group in ("usage", "engagement")}


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated_world(tmp_path_factory, accounts=1500, months=24, seed=5)


@pytest.fixture(scope="module")
def dataset(world_dir: Path) -> Dataset:
    return load_dataset(world_dir)


@pytest.fixture(scope="module")
def model_dir(dataset: Dataset, world_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("model") / "model"
    write_model_folder(train(dataset, CONFIG), out, data_source=str(world_dir), fingerprint="test")
    return out


@pytest.fixture(scope="module")
def scorer(model_dir: Path) -> Scorer:
    return Scorer.load(model_dir)


@pytest.fixture(scope="module")
def as_of(world_dir: Path) -> pd.Timestamp:
    truth = pd.read_parquet(world_dir / "ground_truth.parquet")
    return sorted(truth["as_of"].unique())[-4]


@pytest.fixture(scope="module")
def scores(dataset: Dataset, scorer: Scorer, as_of: pd.Timestamp) -> pd.DataFrame:
    return score_dataset(dataset, scorer, as_of)


def test_contributions_add_up_to_the_raw_score(dataset: Dataset, scorer: Scorer, as_of: pd.Timestamp) -> None:
    """On the trained models, our TreeSHAP equals LightGBM's pred_contrib within 1e-9, adds up to the
    raw score within 1e-9, and gives the raw score to the bit, missing values included."""
    frame = build_features(dataset, [as_of, as_of - pd.Timedelta(days=61)]).frame
    x = to_matrix(frame, scorer.bundle.spec)
    assert x.isna().any().any(), "the check should cover missing values"
    for name, model in scorer.bundle.outcomes.items():
        booster = model.booster
        contrib, raw = TreeShap.from_booster(booster).explain(x)
        reference = booster.predict(x, pred_contrib=True, num_iteration=booster.best_iteration)
        assert contrib.shape == (len(x), x.shape[1] + 1)
        assert np.max(np.abs(contrib - reference)) <= 1e-9, name
        np.testing.assert_array_equal(raw, raw_score(booster, x))
        assert check_additivity(contrib, raw, tolerance=1e-9) <= 1e-9


def test_one_pass_probability_equals_the_model(
    scores: pd.DataFrame, dataset: Dataset, scorer: Scorer, as_of: pd.Timestamp
) -> None:
    """Churn probability from the explaining pass is the calibrated model's prediction, to the bit."""
    rows = eligible_features(dataset, build_features(dataset, [as_of]).frame, scorer.outcome_config)
    expected = scorer.bundle.outcomes["churn"].predict(to_matrix(rows, scorer.bundle.spec))
    np.testing.assert_array_equal(scores["churn_probability"].to_numpy(), expected)
    assert list(scores.columns) == list(SCORE_COLUMNS)
    assert scores["account_id"].is_unique


def test_only_accounts_with_an_active_subscription_are_scored(
    dataset: Dataset, scores: pd.DataFrame, as_of: pd.Timestamp
) -> None:
    """Churned and not-yet-started accounts get no score: the model was never trained on them."""
    subs = dataset.tables["subscriptions"]
    active = subs[(subs["start_date"] <= as_of) & (subs["end_date"].isna() | (subs["end_date"] > as_of))]
    assert set(scores["account_id"]) == set(active["account_id"])


@pytest.mark.xfail(
    reason="issue 18 (branch backtest): with the vocabulary and long-window usage signals the top 3 red flags name "
    "support, NPS and invoice causes less often (0.30, 0.24, 0.24 of visible cases, need > 0.5); to fix at merge",
    strict=False,
)
def test_red_flags_name_the_planted_cause(dataset: Dataset, scorer: Scorer, world_dir: Path) -> None:
    """Where the planted churn driver shows in the data, a matching signal is among the top 3 red flags."""
    truth = pd.read_parquet(world_dir / "ground_truth.parquet")
    dates = sorted(truth["as_of"].unique())[-7:-3]
    rows = eligible_features(dataset, build_features(dataset, dates).frame, scorer.outcome_config)
    rows = rows.merge(truth[["account_id", "as_of", "top_driver"]], on=["account_id", "as_of"])
    flags = scorer.score(rows)["red_flags"]
    causes = {
        "low_active_users": (USAGE, rows["licence_utilisation"] < 0.5),
        "falling_active_users": (USAGE, rows["active_users_trend"] < 0),
        "unresolved_high_priority_tickets": (_group("support"), rows["open_high_priority_tickets"] >= 2),
        "detractor_nps": (_group("sentiment"), rows["nps_latest"] <= 6),
        "overdue_invoices": ({"overdue_amount", "max_days_overdue"}, rows["overdue_amount"] > 0),
    }
    report = {}
    for cause, (signals, shows) in causes.items():
        # Generated signals of the data's own event types (events_30d__login, ...) are usage signals too.
        named = np.array([any(_in(f["signal"], signals) for f in fl[:3]) for fl in flags])
        planted = (rows["top_driver"] == cause).to_numpy()
        visible = planted & shows.fillna(False).to_numpy()
        report[cause] = (planted.sum(), named[planted].mean(), visible.sum(), named[visible].mean())
    print("\ncause: planted n, share named | visible n, share named")
    for cause, (n, share, nv, share_v) in report.items():
        print(f"  {cause}: {n} {share:.2f} | {nv} {share_v:.2f}")
    for cause, (_, _share, nv, share_v) in report.items():
        assert nv >= 10, cause
        assert share_v > 0.5, (cause, share_v)
    assert report["low_active_users"][1] > 0.8


def _in(signal: str, signals: set[str]) -> bool:
    return signal in signals or (signals is USAGE and SIGNALS_BY_NAME[signal].group == "usage")


def _group(name: str) -> set[str]:
    return {n for n, s in SIGNALS_BY_NAME.items() if s.group == name}


def test_context_is_never_the_only_reason(scores: pd.DataFrame) -> None:
    """Every non-empty flag list holds an actionable signal first; flags name only declared signals."""
    for flags in list(scores["red_flags"]) + list(scores["green_flags"]):
        if flags:
            assert flags[0]["action"], flags
        for flag in flags:
            assert flag["signal"] in SIGNALS_BY_NAME
            assert set(flag) == {"signal", "value", "contribution", "sentence", "action"}
    assert scores["red_flags"].map(len).gt(0).mean() > 0.5


def test_flags_sit_on_the_matching_side_of_the_typical_account(
    dataset: Dataset, scorer: Scorer, as_of: pd.Timestamp, scores: pd.DataFrame
) -> None:
    """A red flag's value is less healthy than the reference median by the catalog's direction, a green
    flag's healthier (missing values and context signals have no side). Without the reference profile
    the model's raw SHAP puts some flags on the wrong side (e.g. "nobody used the product for 0 days")."""
    typical = dict(zip(scorer.signals, scorer.typical, strict=True))
    assert np.isfinite(list(typical.values())).mean() > 0.9

    def wrong_side(frame: pd.DataFrame) -> int:
        count = 0
        for column, sign in (("red_flags", +1), ("green_flags", -1)):
            for flags in frame[column]:
                for f in flags:
                    direction = SIGNALS_BY_NAME[f["signal"]].direction
                    if f["value"] is not None and direction:
                        count += sign * direction * (f["value"] - typical[f["signal"]]) >= 0
        return count

    assert wrong_side(scores) == 0
    assert scores["red_flags"].map(len).sum() > 0 and scores["green_flags"].map(len).sum() > 0
    blind = Scorer(replace(scorer.bundle, reference=None))
    rows = eligible_features(dataset, build_features(dataset, [as_of]).frame, scorer.outcome_config)
    assert np.isnan(blind.typical).all() and wrong_side(blind.score(rows)) > 0


def test_sentences_carry_the_real_numbers_in_both_languages(
    dataset: Dataset, scorer: Scorer, as_of: pd.Timestamp, scores: pd.DataFrame
) -> None:
    """English and Turkish flags render the signal's template with the account's actual value, and
    a trend says which way it went in both languages."""
    turkish = score_dataset(dataset, scorer, as_of, lang="tr")
    checked, trends = 0, 0
    for en, tr in zip(scores["red_flags"], turkish["red_flags"], strict=True):
        for a, b in zip(en, tr, strict=True):
            signal = SIGNALS_BY_NAME[a["signal"]]
            assert (a["signal"], a["value"], a["contribution"]) == (b["signal"], b["value"], b["contribution"])
            # A text signal's red flag may end with a quoted comment: the sentence is what comes before.
            assert a["sentence"].split(': "')[0] == signal.sentence(a["value"], "en")
            assert b["sentence"].split(': "')[0] == signal.sentence(b["value"], "tr")
            if a["value"] is not None and a["value"] != 0:
                assert any(ch.isdigit() for ch in a["sentence"]) and any(ch.isdigit() for ch in b["sentence"])
                if "{trend}" in signal.template["tr"]:
                    rose = a["value"] > 0
                    assert ("rose" if rose else "fell") in a["sentence"]
                    assert ("arttı" if rose else "azaldı") in b["sentence"]
                    trends += 1
            checked += 1
    assert checked > 100 and trends > 0


def test_a_text_red_flag_quotes_the_most_negative_recent_comment(
    dataset: Dataset, as_of: pd.Timestamp, scores: pd.DataFrame
) -> None:
    """A comment signal among the red flags ends with the account's most negative comment of the last 90
    days, quoted and dated; the CRM reason field carries the same words."""
    quotes = recent_quotes(dataset, [pd.Timestamp(as_of)]).set_index("account_id")["quote"]
    crm = crm_frame(scores).set_index("Account_External_Id__c")
    quoted = 0
    for account, flags in zip(scores["account_id"], scores["red_flags"], strict=True):
        first = next((f for f in flags if f["signal"] in TEXT_SIGNALS), None)
        if first is None or account not in quotes.index:
            continue
        assert first["sentence"].endswith(": " + quotes[account]), first
        assert (
            first["sentence"] in crm.loc[account, ["Risk_Reason_1__c", "Risk_Reason_2__c", "Risk_Reason_3__c"]].tolist()
        )
        quoted += 1
    print(f"\n{quoted} red flags quote a comment, e.g. {next(iter(quotes), None)}")
    assert quoted > 0


def test_rerun_gives_identical_rows(
    dataset: Dataset, scorer: Scorer, as_of: pd.Timestamp, scores: pd.DataFrame, tmp_path: Path
) -> None:
    """Scoring the same inputs twice gives the same rows apart from scored_at, also through a file."""
    again = score_dataset(dataset, scorer, as_of)
    pd.testing.assert_frame_equal(again.drop(columns="scored_at"), scores.drop(columns="scored_at"))
    for suffix in (".parquet", ".csv", ".duckdb"):
        back = read_scores(write_scores(scores, tmp_path / f"scores{suffix}"))
        pd.testing.assert_frame_equal(back, scores, check_dtype=False, obj=suffix)


def test_failed_write_keeps_the_previous_output(
    scores: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that fails half-way leaves the previous scores file readable and unchanged, and no temp file."""
    target = write_scores(scores, tmp_path / "scores.parquet")
    before = target.read_bytes()

    def half_write(self: pd.DataFrame, path: Path, **_: object) -> None:
        Path(path).write_bytes(b"PAR1 half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", half_write)
    with pytest.raises(OSError, match="No space left"):
        write_scores(scores.head(5), target)
    assert target.read_bytes() == before
    assert len(read_scores(target)) == len(scores)
    assert [p.name for p in tmp_path.iterdir()] == ["scores.parquet"]


KILL_SCRIPT = """
import sys, pandas as pd
from serving.outputs import read_scores, write_scores
frame = read_scores(sys.argv[1])
big = pd.concat([frame] * 40, ignore_index=True)
print("ready", flush=True)
i = 0
while True:
    i += 1
    write_scores(big.assign(health_trend=float(i)), sys.argv[2])
"""


def test_killed_writer_never_leaves_a_partial_file(scores: pd.DataFrame, tmp_path: Path) -> None:
    """kill -9 at random points during repeated writes: the target is always a whole scores file."""
    source = write_scores(scores, tmp_path / "source.parquet")
    target = write_scores(scores, tmp_path / "target.parquet")
    rng = np.random.default_rng(0)
    for _ in range(5):
        proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(source), str(target)], stdout=subprocess.PIPE)
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        time.sleep(float(rng.uniform(0.05, 0.6)))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        back = read_scores(target)
        assert len(back) in (len(scores), 40 * len(scores))
    write_scores(scores, target)  # the next write sweeps what the killed writers left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["source.parquet", "target.parquet"]


def test_health_trend_is_the_change_since_the_previous_scoring(scores: pd.DataFrame) -> None:
    """With a previous scoring, health_trend is the score change; accounts new since then get null."""
    previous = scores.assign(as_of=scores["as_of"] - pd.Timedelta(days=30), health_score=scores["health_score"] - 5)
    previous = previous.iloc[1:]
    trended = with_trend(scores.assign(health_trend=np.nan), previous)
    assert np.isnan(trended["health_trend"].iloc[0])
    np.testing.assert_allclose(trended["health_trend"].iloc[1:].dropna(), 5.0)


def test_crm_export_maps_fields_and_writes_only_changes(scores: pd.DataFrame, tmp_path: Path) -> None:
    """The CRM file has the mapped columns; a second export of the same scores changes nothing."""
    target, changes = tmp_path / "crm.csv", tmp_path / "changes.csv"
    full, changed = write_crm(scores, target, changes=changes)
    assert (full, changed) == (len(scores), len(scores))
    written = read_export(target)
    assert list(written.columns) == list(DEFAULT_MAPPING)
    first = scores.sort_values("account_id").iloc[0]
    row = written.iloc[0]
    assert row["Account_External_Id__c"] == first["account_id"]
    assert float(row["Churn_Risk__c"]) == pytest.approx(first["churn_probability"], abs=5e-5)
    reasons = [f["sentence"] for f in first["red_flags"]] + ["", "", ""]
    assert [row[f"Risk_Reason_{i}__c"] for i in (1, 2, 3)] == reasons[:3]
    later = scores.assign(scored_at=scores["scored_at"] + pd.Timedelta(days=1))
    assert write_crm(later, target, changes=changes) == (len(scores), 0)
    moved = later.copy()
    moved.loc[moved.index[3], "health_score"] = 1.0
    assert write_crm(moved, target, changes=changes) == (len(scores), 1)
    assert read_export(changes)["Account_External_Id__c"].tolist() == [moved["account_id"].iloc[3]]
    custom = crm_frame(scores, {"Id": "account_id", "Why__c": "red_flag_1"})
    assert list(custom.columns) == ["Id", "Why__c"]


def test_fewer_outcomes_score_with_fewer_tables(world_dir: Path, tmp_path: Path) -> None:
    """An activity churn model trained on accounts and usage only scores with those; other outcomes are null."""
    full = load_dataset(world_dir)
    small = Dataset({k: v for k, v in full.tables.items() if k in ("accounts", "usage_events")}, full.source)
    config = TrainConfig(
        outcomes=("churn",),
        outcome=OutcomeConfig(churn_definition="activity"),
        lgbm=LGBMParams(num_boost_round=60, early_stopping_rounds=20),
        folds=2,
    )
    write_model_folder(train(small, config), tmp_path / "m", data_source="small", fingerprint="t")
    end = full.tables["usage_events"]["timestamp"].max().normalize()
    scores = score_dataset(small, Scorer.load(tmp_path / "m"), end)
    assert len(scores) > 100
    assert scores["churn_probability"].between(0, 1).all()
    assert scores["renewal_probability"].isna().all() and scores["upsell_probability"].isna().all()


def test_cli_scores_and_summarises(world_dir: Path, model_dir: Path, tmp_path: Path) -> None:
    """`churn score` writes scores and CRM files and prints the band summary; bad input exits 2 in one line."""
    runner = CliRunner()
    out, crm = tmp_path / "s.duckdb", tmp_path / "crm.csv"
    result = runner.invoke(
        app,
        [
            "score",
            "--data",
            str(world_dir),
            "--model",
            str(model_dir),
            "--as-of",
            "latest",
            "--out",
            str(out),
            "--crm-out",
            str(crm),
            "--lang",
            "tr",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "ARR at risk" in result.output and "top 10 accounts" in result.output
    assert len(read_scores(out)) == len(read_export(crm)) > 0
    bad = runner.invoke(
        app, ["score", "--data", str(world_dir), "--model", str(tmp_path), "--as-of", "latest", "--out", str(out)]
    )
    assert bad.exit_code == 2 and "not a model folder" in bad.output


@pytest.mark.spark
def test_spark_scores_equal_embedded_scores(
    dataset: Dataset, scorer: Scorer, as_of: pd.Timestamp, scores: pd.DataFrame, spark
) -> None:
    """Scoring on Spark (model broadcast, mapInPandas batches) equals the embedded scores, flags included.

    The features themselves are equal on both engines by tests/test_features_spark.py; here
    the same eligible signal rows go through the Spark scoring path.
    """
    from serving.spark_scoring import score_on_spark

    rows = eligible_features(dataset, build_features(dataset, [as_of]).frame, scorer.outcome_config)
    rows = with_quote_column(dataset, rows, pd.Timestamp(as_of))  # as score_dataset does: the quoted comments
    on_spark = score_on_spark(rows, scorer, spark=spark)
    assert any(': "' in f["sentence"] for flags in on_spark["red_flags"] for f in flags)
    pd.testing.assert_frame_equal(
        on_spark.drop(columns="scored_at"), scores.drop(columns="scored_at"), check_dtype=False, rtol=1e-9
    )
