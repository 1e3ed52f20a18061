"""The settings file: parsing, one format per date column, and settings that travel with the model."""

from __future__ import annotations

import socket
import tomllib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from churn.cli import app
from features.builders import build_features
from features.config import FeatureConfig
from features.domain import OutcomeRules
from features.loader import load_dataset
from features.settings import (
    InputMapping,
    Settings,
    SettingsError,
    dump_settings,
    example_settings,
    for_scoring,
    parse_settings,
)
from features.signals import event_slug
from features.validation import validate_dataset
from serving.history import read_history
from serving.scorer import Scorer
from simulator import GeneratorConfig, generate_world

runner = CliRunner()


def test_the_example_file_parses_back_to_the_defaults() -> None:
    """It prints an example (`churn config --example`) that parses to the dataclasses' defaults."""
    result = runner.invoke(app, ["config", "--example"])
    assert result.exit_code == 0, result.output
    assert parse_settings(result.output) == Settings()
    assert "# " in result.output and "[input]" in result.output
    assert example_settings() == result.output


def test_dump_and_parse_round_trip_every_key() -> None:
    """It writes settings (features, outcomes, input mapping, formats) that read back equal."""
    settings = Settings(
        replace(
            FeatureConfig(),
            key_events=('win "big"',),
            event_types_top_k=4,
            event_types=("a", "b"),
            survey_window_days=60,
        ),
        OutcomeRules(horizon_days=60, grace_days=10, churn_definition="activity", active_days=200, trial_days=30),
        InputMapping(
            {"usage_events": "events_export"},
            {"accounts": {"account_id": "customer_number"}, "usage_events": {"event": "action"}},
            {"usage_events.timestamp": "%d/%m/%Y %H:%M"},
        ),
        spark={"spark.driver.memory": "4g", "spark.sql.shuffle.partitions": "8"},
    )
    text = dump_settings(settings)
    assert parse_settings(text) == settings
    assert tomllib.loads(text)["input"]["accounts"] == {"account_id": "customer_number"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[features]\nkey_event = ['a']\n", "unknown key 'features.key_event'"),
        ("[feature]\n", "unknown key 'feature'"),
        ("[features.windows]\nsupport = 30\n", "unknown key 'features.windows.support'"),
        ("[outcomes]\nhorizon_days = 'ninety'\n", "outcomes.horizon_days must be an integer, not 'ninety'"),
        ("[outcomes]\nchurn_definition = 'usage'\n", "outcomes.churn_definition must be contract"),
        ("[outcomes]\ngrace_days = -1\n", "grace_days must be >= 0"),
        ("[input]\naccounts.acount_id = 'x'\n", "unknown key 'input.accounts.acount_id'"),
        ("[input]\ntables.events = 'x'\n", "unknown key 'input.tables.events'"),
        ("[input]\nformats.'accounts.segment' = '%Y'\n", "unknown key 'input.formats.accounts.segment'"),
        ("[input]\nformats.'accounts.created_at' = 'DD/MM/YYYY'\n", "has no % directive"),
        ("[features\n", "not valid TOML"),
        ("[spark]\nspark.driver.memory = '4g'\n", 'Spark settings are quoted keys: "spark.driver.memory"'),
        ("[spark]\n'driver.memory' = '4g'\n", "unknown key 'spark.driver.memory'"),
        ("[spark]\n'spark.driver.memory' = 4\n", "spark.'spark.driver.memory' must be a string, not 4"),
    ],
)
def test_config_check_names_the_key_and_the_file(tmp_path: Path, text: str, expected: str) -> None:
    """It refuses a wrong key or value with one line naming the file and the key, exit 2."""
    file = tmp_path / "bad.toml"
    file.write_text(text)
    result = runner.invoke(app, ["config", "--check", str(file)])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(file) in errors[0] and expected in errors[0], result.output
    assert "Traceback" not in result.output


def test_config_check_accepts_the_example(tmp_path: Path) -> None:
    """It accepts the example file and says what it sets."""
    file = tmp_path / "churn.toml"
    file.write_text(example_settings())
    result = runner.invoke(app, ["config", "--check", str(file)])
    assert result.exit_code == 0 and "valid" in result.output, result.output


def test_scoring_refuses_other_features_than_the_model_was_trained_with() -> None:
    """It keeps the model's features and outcomes; a --config may change only the input mapping."""
    saved = Settings(FeatureConfig(key_events=("export",)))
    given = Settings(FeatureConfig(key_events=("login",)), source="mine.toml")
    with pytest.raises(SettingsError, match=r"mine\.toml: features\.key_events \(\('login',\) vs the model's"):
        for_scoring(saved, given)
    mapped = Settings(saved.features, input=InputMapping({"accounts": "crm"}), source="mine.toml")
    used, note = for_scoring(saved, mapped)
    assert used.features == saved.features and used.input.tables == {"accounts": "crm"} and note is None


# --- dates: one format per column ------------------------------------------------------------

ACCOUNTS = "account_id,created_at\nA1,{0}\nA2,{1}\n"


def _accounts(tmp_path: Path, first: str, second: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "accounts.csv").write_text(ACCOUNTS.format(first, second))
    return tmp_path


def test_an_ambiguous_day_month_date_is_not_guessed(tmp_path: Path) -> None:
    """It refuses 10/02/2025 by default (not ISO 8601) instead of reading it as either 2 October or 10 February."""
    report = validate_dataset(load_dataset(_accounts(tmp_path, "10/02/2025", "13/02/2025")))
    problem = next(p for p in report.errors if p.column == "created_at")
    assert "not ISO 8601" in str(problem) and problem.count == 2
    assert 'input.formats."accounts.created_at"' in str(problem)


def test_a_configured_format_reads_every_row_the_same_way(tmp_path: Path) -> None:
    """It reads every row of a column with the configured format: 10/02/2025 is 10 February in every row."""
    mapping = InputMapping(formats={"accounts.created_at": "%d/%m/%Y"})
    accounts = load_dataset(_accounts(tmp_path, "10/02/2025", "13/02/2025"), mapping=mapping).tables["accounts"]
    assert list(accounts["created_at"]) == [pd.Timestamp("2025-02-10", tz="UTC"), pd.Timestamp("2025-02-13", tz="UTC")]


def test_a_row_in_another_format_is_reported_with_its_row(tmp_path: Path) -> None:
    """It reports a row that does not match the configured format, with the row, instead of guessing."""
    mapping = InputMapping(formats={"accounts.created_at": "%d/%m/%Y"})
    report = validate_dataset(load_dataset(_accounts(tmp_path, "10/02/2025", "2025-02-13"), mapping=mapping))
    text = str(next(p for p in report.errors if p.column == "created_at"))
    assert (
        "timestamps not in the format '%d/%m/%Y'" in text and "row 2 (account_id='A2', created_at='2025-02-13')" in text
    )


def test_mixed_iso_forms_stay_valid(tmp_path: Path) -> None:
    """It accepts dates, date-times and offsets, all ISO 8601, in one column."""
    accounts = load_dataset(_accounts(tmp_path, "2024-01-05T10:00:00+02:00", "2024-01-06 09:30")).tables["accounts"]
    assert list(accounts["created_at"]) == [
        pd.Timestamp("2024-01-05 08:00", tz="UTC"),
        pd.Timestamp("2024-01-06 09:30", tz="UTC"),
    ]


# --- end to end: a world exported with the user's own names ----------------------------------

SETTINGS = """
[features]
key_events = ["export"]

[features.windows]
survey_days = 45

[input]
tables.accounts = "customers"
tables.usage_events = "events_export"
accounts.account_id = "customer_number"
accounts.created_at = "signup_date"
subscriptions.account_id = "customer_number"
usage_events.account_id = "customer_number"
usage_events.user_id = "user"
usage_events.timestamp = "when"
usage_events.event = "action"
surveys.account_id = "customer_number"
formats."accounts.created_at" = "%d/%m/%Y"
formats."usage_events.timestamp" = "%d/%m/%Y %H:%M"
"""

# contract -> the export's names, per table; and the export's file names
RENAMES = {
    "accounts": {"account_id": "customer_number", "created_at": "signup_date"},
    "subscriptions": {"account_id": "customer_number"},
    "usage_events": {"account_id": "customer_number", "user_id": "user", "timestamp": "when", "event": "action"},
    "surveys": {"account_id": "customer_number"},
}
FILES = {"accounts": "customers", "usage_events": "events_export"}


def export_with_own_names(world: dict[str, pd.DataFrame], folder: Path) -> None:
    """The world as CSV files the way a CRM export might look: other names, day-first dates."""
    folder.mkdir(parents=True)
    for name, renames in RENAMES.items():
        frame = world[name].rename(columns=renames)
        if name == "accounts":
            frame["signup_date"] = frame["signup_date"].dt.strftime("%d/%m/%Y")
        if name == "usage_events":
            frame["when"] = frame["when"].dt.strftime("%d/%m/%Y %H:%M")
        frame.to_csv(folder / f"{FILES.get(name, name)}.csv", index=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    base = tmp_path_factory.mktemp("own-names")
    world = generate_world(GeneratorConfig(accounts=200, months=18, seed=5))
    data, config, model = base / "export", base / "churn.toml", base / "model"
    export_with_own_names(world.tables, data)
    config.write_text(SETTINGS)
    quick = ["--param", "num_boost_round=60", "--param", "early_stopping_rounds=20"]
    args = ["train", "--data", str(data), "--out", str(model), "--config", str(config), "--outcomes", "churn"]
    result = runner.invoke(app, [*args, "--no-mlflow", *quick])
    assert result.exit_code == 0, result.output
    return data, config, model


def test_the_settings_are_saved_in_the_model_folder(trained: tuple[Path, Path, Path]) -> None:
    """It saves settings.toml, checksummed in the manifest, holding the key events, the window and the mapping."""
    _, _, model = trained
    bundle = Scorer.load(model).bundle
    assert "settings.toml" in bundle.manifest["files"]
    assert bundle.settings is not None
    assert bundle.settings.features.key_events == ("export",)
    assert bundle.settings.features.survey_window_days == 45
    assert bundle.settings.input.source_column("accounts", "account_id") == "customer_number"
    chosen = bundle.settings.features.event_types  # chosen by training, written once: not in features.json
    assert chosen and "config" not in bundle.features
    assert all(any(name.endswith(f"__{event_slug(e)}") for name in bundle.spec.names) for e in chosen)


def test_scoring_without_config_uses_the_models_settings(trained: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """It scores the renamed export with no --config (the model's settings), and the scored accounts' key-feature
    adoption counts the settings' key event, not the defaults'."""
    data, _, model = trained
    out = tmp_path / "scores.parquet"
    history = tmp_path / "history.duckdb"
    result = runner.invoke(
        app, ["score", "--data", str(data), "--model", str(model), "--out", str(out), "--history", str(history)]
    )
    assert result.exit_code == 0, result.output
    scores = pd.read_parquet(out)
    assert len(scores) > 50 and scores["churn_probability"].between(0, 1).all()
    _, details = read_history(history)
    stored = details[details["signal"] == "key_feature_adoption"].set_index("account_id")["value"]
    # The same data and date under the settings' key events and under the defaults.
    dataset = load_dataset(data, mapping=parse_settings(SETTINGS).input)
    as_of = pd.Timestamp(scores["as_of"].iloc[0])
    ours = build_features(dataset, [as_of], config=Scorer.load(model).feature_config).frame.set_index("account_id")
    default = build_features(dataset, [as_of]).frame.set_index("account_id")
    ids = stored.index
    assert np.allclose(
        stored.to_numpy(dtype=float), ours.loc[ids, "key_feature_adoption"].to_numpy(dtype=float), equal_nan=True
    )
    assert "key_feature_adoption" not in default.columns  # the defaults name no key events: the signal is skipped
    survey = [c for c in ours.columns if c.startswith(("nps", "survey", "csat"))]
    assert any(not ours[c].equals(default[c]) for c in survey), "the survey window changed no survey signal"


def test_a_config_with_other_key_events_is_refused_at_scoring(trained: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """It refuses to score with a --config whose key events differ from the model's, naming the key."""
    data, config, model = trained
    other = tmp_path / "other.toml"
    other.write_text(config.read_text().replace('["export"]', '["login"]'))
    args = ["score", "--data", str(data), "--model", str(model), "--out", str(tmp_path / "s.parquet")]
    result = runner.invoke(app, [*args, "--config", str(other)])
    assert result.exit_code == 2, result.output
    assert "features.key_events" in result.output and "differs from the model's settings.toml" in result.output


def test_generate_writes_the_worlds_settings_and_commands_read_them(tmp_path: Path) -> None:
    """It writes churn.toml naming the generated world's key events, which `churn validate` then reads."""
    world = tmp_path / "world"
    result = runner.invoke(app, ["generate", "--out", str(world), "--accounts", "40", "--months", "5"])
    assert result.exit_code == 0, result.output
    settings = parse_settings((world / "churn.toml").read_text())
    assert settings.features.key_events == ("report_create", "integration_sync")
    checked = runner.invoke(app, ["validate", "--data", str(world)])
    assert checked.exit_code == 0 and f"settings: {world / 'churn.toml'}" in checked.output, checked.output


def test_serve_and_drift_refuse_other_settings_than_the_models(
    trained: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    """`churn serve` (before loading anything) and `churn drift` refuse a --config whose outcomes differ from the model's."""
    data, config, model = trained
    other = tmp_path / "other.toml"
    other.write_text(config.read_text() + "\n[outcomes]\nhorizon_days = 60\n")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    serve = ["serve", "--model", str(model), "--data", str(data), "--insecure-local", "--port", str(port)]
    drift = ["drift", "--model", str(model), "--data", str(data), "--as-of", "latest"]
    for args in (serve, drift):
        result = runner.invoke(app, [*args, "--config", str(other)])
        assert result.exit_code == 2, result.output
        assert "outcomes.horizon_days (60 vs the model's 90) differs from the model's settings.toml" in result.output
