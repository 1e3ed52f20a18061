"""Signals of what customers say and whom they refer, on tiny tables and on a generated world."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pandas_oracle import reference_features
from pit_worlds import DAY_US, dataset, ts

from features.builders import build_features
from features.config import FeatureConfig
from features.engine import connect
from features.loader import Dataset
from features.signals import SIGNALS_BY_NAME, TEXT_SIGNALS
from features.texts import recent_quotes, text_rows
from simulator import GeneratorConfig, generate_world
from training.model.matrix import infer_spec
from training.train import TrainConfig, build_training_frame, plan, train_outcome

A = 200 * DAY_US
AS_OF = ts(A)


@pytest.fixture(scope="module")
def duck():
    return connect("duckdb")


def _tiny() -> Dataset:
    return dataset(
        {
            "accounts": [{"account_id": "a", "created_at": 0}, {"account_id": "b", "created_at": 0}],
            "surveys": [
                {
                    "account_id": "a",
                    "answered_at": A - 10 * DAY_US,
                    "kind": "nps",
                    "score": 2,
                    "comment": "Too slow, awful support",
                },
                {"account_id": "a", "answered_at": A - 100 * DAY_US, "kind": "nps", "score": 9, "comment": "Great"},
                {"account_id": "a", "answered_at": A, "kind": "nps", "score": 0, "comment": "Terrible, cancel"},
                {"account_id": "b", "answered_at": A - 5 * DAY_US, "kind": "csat", "score": 5, "comment": ""},
            ],
            "csm_inputs": [
                {
                    "account_id": "a",
                    "recorded_at": A - 20 * DAY_US,
                    "sentiment": "red",
                    "note": "Rakibe geçmeyi düşünüyorlar, fiyat pahalı",
                },
                {"account_id": "b", "recorded_at": A - 30 * DAY_US, "sentiment": "green", "note": "Harika, memnunlar"},
            ],
            "referrals": [
                {"referrer_account_id": "b", "referred_at": A - 300 * DAY_US},
                {"referrer_account_id": "b", "referred_at": A - 364 * DAY_US, "converted_at": A - 300 * DAY_US},
                {"referrer_account_id": "b", "referred_at": A - 366 * DAY_US},
                {"referrer_account_id": "a", "referred_at": A},
            ],
        }
    )


def test_text_signals_use_only_texts_before_as_of(duck) -> None:
    """It averages sentiment over 90/180 days, counts risk phrases and referrals, and ignores rows at as_of."""
    data = _tiny()
    frame = build_features(data, [AS_OF], con=duck).frame.set_index("account_id")
    a, b = frame.loc["a"], frame.loc["b"]
    assert a["comment_sentiment_90d"] < 0 < b["comment_sentiment_90d"]
    assert a["comment_sentiment_180d"] > a["comment_sentiment_90d"]  # "Great" 100 days ago lifts it
    assert a["negative_comment_share_180d"] == pytest.approx(2 / 3)
    assert a["days_since_negative_comment"] == 10.0 and np.isnan(b["days_since_negative_comment"])
    assert a["risk_phrases_90d"] == 2 and b["risk_phrases_90d"] == 0  # "rakibe", "pahalı"; "cancel" is at as_of
    assert b["referrals_365d"] == 2 and a["referrals_365d"] == 0
    want = reference_features(data, [AS_OF]).frame.set_index("account_id")
    pd.testing.assert_frame_equal(frame, want, check_exact=False, rtol=1e-12)


def test_text_language_and_risk_phrases_are_configurable(duck) -> None:
    """It counts the configured risk phrases and refuses an unknown text language."""
    config = FeatureConfig(risk_phrases=("slow",))
    frame = build_features(_tiny(), [AS_OF], con=duck, config=config).frame.set_index("account_id")
    assert frame.loc["a", "risk_phrases_90d"] == 1
    with pytest.raises(ValueError, match="text_language must be one of"):
        FeatureConfig(text_language="de")


def test_without_text_the_text_signals_are_skipped_and_say_why(duck) -> None:
    """It skips the text signals, naming the text columns, when no table has any."""
    data = dataset({"accounts": [{"account_id": "a", "created_at": 0}]})
    skipped = {s.name: s.reason for s in build_features(data, [AS_OF], con=duck).skipped}
    assert set(TEXT_SIGNALS) <= set(skipped)
    assert "surveys.comment" in skipped["comment_sentiment_90d"]
    assert skipped["referrals_365d"] == "table referrals is absent"


def test_the_quote_is_the_most_negative_recent_text_with_its_date() -> None:
    """It quotes the most negative text of the 90 days before as_of, cut and dated, never a later one."""
    quotes = recent_quotes(_tiny(), [AS_OF]).set_index("account_id")["quote"]
    assert list(quotes.index) == ["a"]
    day = AS_OF - pd.Timedelta(days=20)
    assert quotes["a"] == f'"Rakibe geçmeyi düşünüyorlar, fiyat pahalı" ({day:%Y-%m-%d})'  # risk phrases rank first
    assert "cancel" not in quotes["a"]  # "Terrible, cancel" is dated at as_of
    rows = text_rows(_tiny())
    assert set(rows["source"]) == {"surveys", "csm_inputs"} and rows["sentiment"].between(-1, 1).all()


def test_text_signals_are_declared_in_both_languages() -> None:
    """It words every text and referral signal in English and Turkish."""
    for name in (*TEXT_SIGNALS, "referrals_365d"):
        s = SIGNALS_BY_NAME[name]
        assert s.sentence(0.25) != s.sentence(0.25, lang="tr")
    assert SIGNALS_BY_NAME["comment_sentiment_90d"].sentence(-0.4) == (
        "Comments and notes of the last 90 days averaged -0.40 (-1 negative, +1 positive)"
    )
    assert (
        SIGNALS_BY_NAME["comment_sentiment_90d"]
        .sentence(-0.4, lang="tr")
        .startswith("Son 90 günün yorum ve notları ortalama -0,40")
    )


def test_generated_texts_follow_the_hidden_health_and_raise_churn_auc() -> None:
    """On a generated world, comments are bilingual, mostly blank, and the text signals raise held-out
    churn AUC: accounts that have decided to leave say so before their usage shows it."""
    world = generate_world(GeneratorConfig(accounts=1200, months=16, seed=5))
    data = Dataset(world.tables, "generated")
    comments = world.tables["surveys"]["comment"]
    assert 0.4 < comments.isna().mean() < 0.9  # many blanks (more comments under churn pressure)
    rows = text_rows(data)
    langs = rows["text"].map(lambda t: any(c in t for c in "çğıöşüÇĞİÖŞÜ"))
    assert 0.15 < langs.mean() < 0.6
    referrals = world.tables["referrals"]
    assert len(referrals) > 0 and referrals["converted_at"].notna().any()

    config = TrainConfig(outcomes=("churn",))
    _, dates, folds = plan(data, config)  # the rolling backtest's folds: the AUCs are their held-out mean
    frame, _ = build_training_frame(data, dates, config)
    text = (*TEXT_SIGNALS, "referrals_365d")
    with_text = infer_spec(frame, exclude=("arr_at_as_of", "churn"))
    without = infer_spec(frame, exclude=("arr_at_as_of", "churn", *text))
    auc_with = train_outcome("churn", frame, with_text, folds, config).metrics["model"]["roc_auc"]
    auc_without = train_outcome("churn", frame, without, folds, config).metrics["model"]["roc_auc"]
    print(f"\nheld-out churn AUC without text signals {auc_without:.4f}, with them {auc_with:.4f}")
    assert set(text) <= set(with_text.numeric)
    assert auc_with > auc_without
