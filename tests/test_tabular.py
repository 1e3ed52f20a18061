"""Training on a table the user brings: typing, validation, errors, and Telco accuracy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from training.tabular import TabularConfig, load_table, train_table

TELCO = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "telco" / "Telco-Customer-Churn.csv"
FAST = TabularConfig(repeats=1, folds=3)


def table(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """Accounts as text cells, as a CSV would give them: zero-padded ids, blanks, categories."""
    rng = np.random.default_rng(seed)
    plan = rng.choice(["basic", "pro", "team"], n)
    usage = rng.gamma(2.0, 10.0, n)
    risk = -1.5 - 0.15 * (usage - 20) + np.where(plan == "basic", 2.0, 0.0)
    churn = rng.random(n) < 1 / (1 + np.exp(-risk))
    usage_text = np.array([f"{u:.2f}" for u in usage], dtype=object)
    usage_text[rng.choice(n, 15, replace=False)] = " "
    return pd.DataFrame(
        {
            "account": [f"{i:05d}" for i in range(1, n + 1)],
            "plan": plan,
            "usage": usage_text,
            "seats": rng.integers(1, 50, n).astype(str),
            "region": "emea",
            "note": [f"call {i} went fine" for i in range(n)],
            "crm_number": [str(90000 + 7 * i) for i in range(n)],
            "signup": pd.date_range("2023-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
            "churned": np.where(churn, "Yes", "No"),
        }
    )


@pytest.mark.slow
def test_telco_auc() -> None:
    """It reaches a cross-validated ROC-AUC of at least 0.845 on Telco."""
    if not TELCO.exists():
        pytest.skip(f"Telco data not found at {TELCO}")
    frame = load_table(TELCO)
    total = frame["TotalCharges"]
    assert total.dtype == "float64" and total.isna().sum() == 11
    result = train_table(frame, "customerID", "Churn")
    model = result.metrics["model"]
    print(
        f"\nTelco {result.validation}: "
        f"ROC-AUC {model['roc_auc']:.4f} ± {model['roc_auc_std']:.4f}, "
        f"logistic {result.metrics['logistic']['roc_auc']:.4f}, rounds {result.num_boost_round}"
    )
    assert result.positive == "Yes"
    assert result.validation == "repeated stratified 5-fold CV (3 repeats)"
    assert 0.845 <= model["roc_auc"] < 0.88  # near 0.90 would mean leakage
    assert "customerID" not in result.spec.names and "Churn" not in result.spec.names


def test_types_blanks_categoricals_and_ids() -> None:
    """It reads blanks as missing numbers, text as categories, and never uses ids as features."""
    result = train_table(table(), "account", "churned", config=FAST)
    spec = result.spec
    assert set(spec.numeric) == {"usage", "seats"}
    assert spec.categorical == {"plan": ("basic", "pro", "team")}
    assert result.dropped == {
        "crm_number": "whole numbers unique per row (looks like an id)",
        "region": "constant",
        "note": "text unique per row (an id or free text)",
        "signup": "text unique per row (an id or free text)",
    }
    assert any("'region'" in note for note in result.notes)
    assert result.positive == "Yes"
    assert result.metrics["model"]["roc_auc"] > 0.7
    assert set(result.metrics) == {"model", "logistic"}
    p = result.predict(table().head(5))
    assert p.shape == (5,) and np.all((p > 0) & (p < 1))


def test_load_csv_keeps_codes_as_text(tmp_path: Path) -> None:
    """It keeps zero-padded ids like 00123 as text and turns blank-holding numbers into floats."""
    path = tmp_path / "accounts.csv"
    table(20).to_csv(path, index=False)
    frame = load_table(path)
    assert frame["account"].iloc[0] == "00001"
    assert frame["usage"].dtype == "float64" and frame["usage"].isna().any()
    assert frame["seats"].dtype == "float64"
    assert frame["plan"].dtype == object


def test_load_parquet(tmp_path: Path) -> None:
    """It reads Parquet with the same column types as the CSV it came from."""
    frame = table(20)
    frame.to_parquet(tmp_path / "accounts.parquet")
    frame.to_csv(tmp_path / "accounts.csv", index=False)
    from_parquet = load_table(tmp_path / "accounts.parquet")
    from_csv = load_table(tmp_path / "accounts.csv")
    pd.testing.assert_frame_equal(from_parquet, from_csv)


def test_blank_labels_left_out() -> None:
    """It leaves out rows whose label is blank and says so."""
    frame = table()
    frame.loc[:9, "churned"] = "  "
    result = train_table(frame, "account", "churned", config=FAST)
    assert result.metrics["model"]["n"] == 390
    assert "10 rows with a blank label left out" in result.notes


def test_deterministic() -> None:
    """It trains the same booster twice for the same seed."""
    first = train_table(table(), "account", "churned", config=FAST)
    second = train_table(table(), "account", "churned", config=FAST)
    assert first.booster.model_to_string() == second.booster.model_to_string()
    assert first.metrics == second.metrics


def test_row_order_invariant() -> None:
    """It gives the same CV result whatever the order of the rows."""
    frame = table()
    shuffled = frame.sample(frac=1.0, random_state=1)
    a = train_table(frame, "account", "churned", config=FAST)
    b = train_table(shuffled, "account", "churned", config=FAST)
    assert a.booster.model_to_string() == b.booster.model_to_string()


def test_time_split_tests_on_latest_rows() -> None:
    """It fits on the earliest rows, calibrates on the middle ones and tests on the latest."""
    frame = table()
    result = train_table(frame, "account", "churned", time_column="signup", config=FAST)
    assert result.validation == "time split on signup"
    when = pd.to_datetime(frame.set_index("account")["signup"]).reindex(result.folds.index)
    by_fold = when.groupby(result.folds.to_numpy())
    assert by_fold.max()["train"] < by_fold.min()["calibration"]
    assert by_fold.max()["calibration"] < by_fold.min()["test"]
    assert result.folds.value_counts().to_dict() == {"train": 240, "calibration": 80, "test": 80}
    assert result.metrics["model"]["n"] == 80
    assert "signup" not in result.spec.names


def test_time_split_ignores_row_order() -> None:
    """It gives the same time-split model and test metrics after the rows are shuffled."""
    frame = table()
    a = train_table(frame, "account", "churned", time_column="signup", config=FAST)
    b = train_table(
        frame.sample(frac=1.0, random_state=3),
        "account",
        "churned",
        time_column="signup",
        config=FAST,
    )
    assert a.booster.model_to_string() == b.booster.model_to_string()
    assert a.metrics == b.metrics


def test_time_split_uses_only_earlier_labels() -> None:
    """It tests the same way when the labels of the test rows change, as nothing fitted saw them."""
    frame = table()
    a = train_table(frame, "account", "churned", time_column="signup", config=FAST)
    test_ids = a.folds[a.folds == "test"].index
    flipped = frame.copy()
    flip = flipped["account"].isin(test_ids)
    flipped.loc[flip, "churned"] = np.where(flipped.loc[flip, "churned"] == "Yes", "No", "Yes")
    b = train_table(flipped, "account", "churned", time_column="signup", config=FAST)
    assert a.calibrator == b.calibrator
    assert a.metrics["model"]["roc_auc"] == pytest.approx(1 - b.metrics["model"]["roc_auc"])


def test_named_positive_label() -> None:
    """It uses the positive value it is given for a label it cannot guess."""
    frame = table().assign(churned=lambda f: f["churned"].map({"Yes": "lost", "No": "kept"}))
    result = train_table(frame, "account", "churned", positive="lost", config=FAST)
    assert result.positive == "lost"
    reference = train_table(table(), "account", "churned", config=FAST)
    assert result.booster.model_to_string() == reference.booster.model_to_string()


def test_numeric_label() -> None:
    """It takes 1 as the positive value of a 0/1 label, whether given as text or numbers."""
    frame = table().assign(churned=lambda f: (f["churned"] == "Yes").astype(int))
    assert train_table(frame, "account", "churned", config=FAST).positive == "1"
    assert train_table(frame, "account", "churned", positive="1", config=FAST).positive == "1"


def test_missing_id_column() -> None:
    """It refuses an id column that is not in the table, listing the columns there are."""
    with pytest.raises(ValueError, match=r"id column 'customer' not in table; available: account, plan"):
        train_table(table(), "customer", "churned")


def test_missing_label_column() -> None:
    """It refuses a label column that is not in the table."""
    with pytest.raises(ValueError, match=r"label column 'Churn' not in table; available: .*churned"):
        train_table(table(), "account", "Churn")


def test_label_with_three_values() -> None:
    """It refuses a label with three distinct values, naming them."""
    frame = table()
    frame.loc[0, "churned"] = "Maybe"
    with pytest.raises(
        ValueError,
        match=r"'churned' must have exactly 2 distinct values, found 3: 'Maybe', 'No', 'Yes'",
    ):
        train_table(frame, "account", "churned")


def test_label_needs_positive() -> None:
    """It asks which value is positive when the label's values do not say."""
    frame = table().assign(churned=lambda f: f["churned"].map({"Yes": "lost", "No": "kept"}))
    with pytest.raises(ValueError, match=r"label column 'churned' has values 'kept', 'lost': name the positive one"):
        train_table(frame, "account", "churned")
    with pytest.raises(ValueError, match=r"positive value 'gone' is not in label column 'churned'"):
        train_table(frame, "account", "churned", positive="gone")


def test_too_few_of_a_class() -> None:
    """It refuses a label with fewer rows of a class than there are folds."""
    frame = table(60).assign(churned="No")
    frame.loc[:2, "churned"] = "Yes"
    with pytest.raises(ValueError, match=r"only 3 rows of class 'Yes'; 5-fold CV needs at least 5 per class"):
        train_table(frame, "account", "churned")


def test_too_few_of_the_negative_class() -> None:
    """It names the negative value when that is the rare one."""
    frame = table(60).assign(churned="Yes")
    frame.loc[:1, "churned"] = "No"
    with pytest.raises(ValueError, match=r"only 2 rows of class 'No'; 3-fold CV"):
        train_table(frame, "account", "churned", config=FAST)


def test_duplicate_ids() -> None:
    """It refuses a table with more than one row per account."""
    frame = table(50)
    frame.loc[1, "account"] = frame.loc[0, "account"]
    with pytest.raises(ValueError, match=r"id column 'account' repeats '00001': one row per account"):
        train_table(frame, "account", "churned")
