"""One settings file for every command: key events, windows, outcomes, and the user's own names.

A settings file is TOML (read with the standard library's ``tomllib``) with four tables,
each optional (``docs/settings.md`` lists every key)::

    [features]                      # features.config.FeatureConfig
    key_events = ["report_create"]
    [features.windows]
    support_days = 90
    [[features.engagement]]
    signal = "active_days_30d"
    weight = 35
    target = 20

    [outcomes]                      # features.domain.OutcomeRules
    horizon_days = 90
    churn_definition = "contract"   # or "subscription" (the same), or "activity"

    [input]                         # the user's table and column names -> the contract's
    tables.usage_events = "events_export"          # events_export.csv / .parquet / DuckDB table
    accounts.account_id = "customer_number"        # contract column = the file's column
    formats."usage_events.timestamp" = "%d/%m/%Y %H:%M"

    [spark]                         # a new local Spark session's configuration (features.spark_conf)
    "spark.driver.memory" = "4g"

The dataclasses in ``features.config`` and ``features.domain`` stay the one place of the
defaults: a key left out keeps its dataclass default, and an unknown key is refused with a
one-line :class:`SettingsError` naming the key and the file. :func:`dump_settings` writes
the file back (``churn train`` saves it in the model folder as ``settings.toml``), and
:func:`parse_settings` reads that output to equal settings.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from features.config import EngagementActivity, FeatureConfig
from features.contract import TABLE_SPECS, Kind
from features.domain import OutcomeRules

SETTINGS_FILE = "settings.toml"  # the saved settings inside a model folder
DATA_SETTINGS_FILE = "churn.toml"  # a dataset folder's own settings (`churn generate` writes one)

# TOML key -> FeatureConfig field, for the [features.windows] table.
WINDOW_KEYS: dict[str, str] = {
    "support_days": "support_window_days",
    "survey_days": "survey_window_days",
    "plan_change_days": "plan_change_window_days",
}
FEATURE_KEYS = (
    "key_events",
    "event_types_top_k",
    "event_types",
    "effort_higher_is_better",
    "text_language",
    "risk_phrases",
    "windows",
    "engagement",
)
ENGAGEMENT_KEYS = ("signal", "weight", "target")
OUTCOME_KEYS = tuple(f.name for f in fields(OutcomeRules))
CHURN_ALIASES = {"subscription": "contract"}  # the word for contract churn


class SettingsError(ValueError):
    """A settings file that cannot be used; the message is one line naming the file and the key."""


@dataclass(frozen=True)
class InputMapping:
    """How the user's tables and columns map onto the contract.

    Attributes:
        tables: contract table -> the file stem in a dataset folder (``events_export`` reads
            ``events_export.csv``, ``.csv.gz`` or ``.parquet``) or the table's name in a DuckDB file.
        columns: contract table -> {contract column -> the source's column}.
        formats: ``"table.column"`` -> a ``strftime`` format for that timestamp column
            (every row is parsed with it; the default is ISO 8601).
    """

    tables: Mapping[str, str] = field(default_factory=dict)
    columns: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    formats: Mapping[str, str] = field(default_factory=dict)

    def source_table(self, table: str) -> str:
        """The name the table has in the user's data."""
        return self.tables.get(table, table)

    def renames(self, table: str) -> dict[str, str]:
        """{source column -> contract column} for one table."""
        return {source: contract for contract, source in self.columns.get(table, {}).items()}

    def source_column(self, table: str, column: str) -> str:
        """The name a contract column has in the user's data."""
        return self.columns.get(table, {}).get(column, column)

    def date_format(self, table: str, column: str) -> str | None:
        """The configured format of a timestamp column, or None for ISO 8601."""
        return self.formats.get(f"{table}.{column}")

    @property
    def empty(self) -> bool:
        return not (self.tables or self.columns or self.formats)


@dataclass(frozen=True)
class Settings:
    """Everything a settings file sets: the feature builders, the outcomes and the input mapping."""

    features: FeatureConfig = field(default_factory=FeatureConfig)
    outcomes: OutcomeRules = field(default_factory=OutcomeRules)
    input: InputMapping = field(default_factory=InputMapping)
    source: str = field(default="", compare=False)  # the file it came from, for messages
    # Spark configuration (key -> value, as in spark-defaults.conf) of a new local session; how a
    # run is executed, not what it computes, so scoring takes it from --config, not from the model.
    spark: Mapping[str, str] = field(default_factory=dict)

    def model_part(self) -> tuple[FeatureConfig, OutcomeRules]:
        """What a trained model depends on: scoring must use the same."""
        return self.features, self.outcomes


# --- reading -------------------------------------------------------------------------------


def load_settings(path: str | Path) -> Settings:
    """Read and check one settings file; :class:`SettingsError` (one line) when it cannot be used."""
    path = Path(path)
    if not path.is_file():
        raise SettingsError(f"settings file not found: {path}" + (" (it is a folder)" if path.is_dir() else ""))
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SettingsError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    return parse_settings(text, str(path))


def parse_settings(text: str, source: str = "<settings>") -> Settings:
    """Settings from TOML text; ``source`` names the file in messages."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{source}: not valid TOML ({exc})") from exc
    _known(doc, ("features", "outcomes", "input", "spark"), "", source)
    try:
        return Settings(
            _features(_table(doc, "features", source), source),
            _outcomes(_table(doc, "outcomes", source), source),
            _input(_table(doc, "input", source), source),
            source,
            _spark(_table(doc, "spark", source), source),
        )
    except SettingsError:
        raise
    except (TypeError, ValueError) as exc:  # a dataclass's own check, e.g. a negative window
        raise SettingsError(f"{source}: {exc}") from exc


def _known(doc: Mapping[str, Any], keys: tuple[str, ...], prefix: str, source: str) -> None:
    for key in doc:
        if key not in keys:
            raise SettingsError(
                f"{source}: unknown key {prefix + key!r} (known: {', '.join(prefix + k for k in keys)})"
            )


def _table(doc: Mapping[str, Any], key: str, source: str) -> dict[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise SettingsError(f"{source}: {key!r} must be a table ([{key}]), not {type(value).__name__}")
    return value


def _typed(value: Any, kind: type, key: str, source: str) -> Any:
    ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not ok:
        name = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}[kind]
        raise SettingsError(f"{source}: {key} must be {name}, not {value!r}")
    return value


def _strings(value: Any, key: str, source: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SettingsError(f"{source}: {key} must be a list of strings, not {value!r}")
    return tuple(value)


def _features(doc: dict[str, Any], source: str) -> FeatureConfig:
    _known(doc, FEATURE_KEYS, "features.", source)
    kw: dict[str, Any] = {}
    if "key_events" in doc:
        kw["key_events"] = _strings(doc["key_events"], "features.key_events", source)
    if "event_types_top_k" in doc:
        kw["event_types_top_k"] = _typed(doc["event_types_top_k"], int, "features.event_types_top_k", source)
    if "event_types" in doc:
        kw["event_types"] = _strings(doc["event_types"], "features.event_types", source)
    if "effort_higher_is_better" in doc:
        kw["effort_higher_is_better"] = _typed(
            doc["effort_higher_is_better"], bool, "features.effort_higher_is_better", source
        )
    if "text_language" in doc:
        kw["text_language"] = _typed(doc["text_language"], str, "features.text_language", source)
    if "risk_phrases" in doc:
        kw["risk_phrases"] = _strings(doc["risk_phrases"], "features.risk_phrases", source)
    windows = _table(doc, "windows", source)
    _known(windows, tuple(WINDOW_KEYS), "features.windows.", source)
    for key, name in WINDOW_KEYS.items():
        if key in windows:
            kw[name] = _typed(windows[key], int, f"features.windows.{key}", source)
    if "engagement" in doc:
        kw["engagement_activities"] = _engagement(doc["engagement"], source)
    return FeatureConfig(**kw)


def _engagement(value: Any, source: str) -> tuple[EngagementActivity, ...]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise SettingsError(f"{source}: features.engagement must be an array of tables ([[features.engagement]])")
    activities = []
    for i, item in enumerate(value, 1):
        where = f"features.engagement[{i}]"
        _known(item, ENGAGEMENT_KEYS, f"{where}.", source)
        missing = [k for k in ENGAGEMENT_KEYS if k not in item]
        if missing:
            raise SettingsError(f"{source}: {where} lacks {missing[0]!r} (each activity has signal, weight, target)")
        activities.append(
            EngagementActivity(
                _typed(item["signal"], str, f"{where}.signal", source),
                _typed(item["weight"], float, f"{where}.weight", source),
                _typed(item["target"], float, f"{where}.target", source),
            )
        )
    return tuple(activities)


def _outcomes(doc: dict[str, Any], source: str) -> OutcomeRules:
    _known(doc, OUTCOME_KEYS, "outcomes.", source)
    kw: dict[str, Any] = {}
    for key in OUTCOME_KEYS:
        if key not in doc:
            continue
        if key == "churn_definition":
            value = _typed(doc[key], str, "outcomes.churn_definition", source)
            value = CHURN_ALIASES.get(value, value)
            if value not in ("contract", "activity"):
                raise SettingsError(
                    f"{source}: outcomes.churn_definition must be contract (or subscription) or activity, "
                    f"not {doc[key]!r}"
                )
            kw[key] = value
        else:
            kw[key] = _typed(doc[key], int, f"outcomes.{key}", source)
    return OutcomeRules(**kw)


def _input(doc: dict[str, Any], source: str) -> InputMapping:
    _known(doc, ("tables", "formats", *TABLE_SPECS), "input.", source)
    tables = _table(doc, "tables", source)
    _known(tables, tuple(TABLE_SPECS), "input.tables.", source)
    for name, value in tables.items():
        _typed(value, str, f"input.tables.{name}", source)
    columns: dict[str, dict[str, str]] = {}
    for name, spec in TABLE_SPECS.items():
        if name not in doc:
            continue
        mapping = _table(doc, name, source)
        _known(mapping, spec.column_names, f"input.{name}.", source)
        for column, value in mapping.items():
            _typed(value, str, f"input.{name}.{column}", source)
        sources = list(mapping.values())
        twice = next((s for s in sources if sources.count(s) > 1), None)
        if twice is not None:
            raise SettingsError(f"{source}: input.{name} maps two contract columns onto {twice!r}")
        columns[name] = dict(mapping)
    formats = _table(doc, "formats", source)
    stamps = [f"{t.name}.{c.name}" for t in TABLE_SPECS.values() for c in t.columns if c.kind is Kind.TIMESTAMP]
    for key, value in formats.items():
        if key not in stamps:
            raise SettingsError(
                f"{source}: unknown key 'input.formats.{key}' (a format is for a timestamp column, "
                f"e.g. {', '.join(repr(s) for s in stamps[:3])})"
            )
        _typed(value, str, f"input.formats.{key}", source)
        if "%" not in value:
            raise SettingsError(f"{source}: input.formats.{key} = {value!r} has no % directive (e.g. '%d/%m/%Y')")
    return InputMapping(dict(tables), columns, dict(formats))


def _spark(doc: dict[str, Any], source: str) -> dict[str, str]:
    for key, value in doc.items():
        if isinstance(value, dict):  # `spark.driver.memory = "4g"` unquoted is a nested TOML table
            raise SettingsError(f'{source}: Spark settings are quoted keys: "{_dotted(key, value)}" = "..."')
        if not key.startswith("spark."):
            raise SettingsError(f"{source}: unknown key 'spark.{key}' (Spark settings start with \"spark.\")")
        _typed(value, str, f"spark.{key!r}", source)
    return dict(doc)


def _dotted(key: str, value: Any) -> str:
    while isinstance(value, dict) and value:
        inner, value = next(iter(value.items()))
        key = f"{key}.{inner}"
    return key


# --- writing -------------------------------------------------------------------------------


def dump_settings(settings: Settings, *, comments: bool = False) -> str:
    """The settings as TOML that :func:`parse_settings` reads back to equal settings.

    With ``comments``, every key is explained and an example ``[input]`` table follows as
    comments: the text ``churn config --example`` prints.
    """
    f, o, m = settings.features, settings.outcomes, settings.input
    lines: list[str] = []

    def put(key: str, value: Any, note: str) -> None:
        if comments and note:
            lines.append(f"# {note}")
        lines.append(f"{key} = {_toml(value)}")

    lines.append("[features]")
    put(
        "key_events",
        list(f.key_events),
        "Events that deliver the product's value (key-feature adoption, time to value).",
    )
    put("event_types_top_k", f.event_types_top_k, "The most frequent event types that get signals of their own.")
    if f.event_types is not None:  # a trained model's chosen types; a user may also name them
        put("event_types", list(f.event_types), "The event types that get signals of their own (replaces the top k).")
    put("effort_higher_is_better", f.effort_higher_is_better, "Customer effort scale: false when 1 = easy, 7 = hard.")
    put("text_language", f.text_language, "Language of comments and notes: auto (detected per text), en or tr.")
    put("risk_phrases", list(f.risk_phrases), "Phrases counted by risk_phrases_90d (matched with Turkish suffixes).")
    lines += ["", "[features.windows]"]
    if comments:
        lines.append("# Look-back windows in days.")
    for key, name in WINDOW_KEYS.items():
        put(key, getattr(f, name), "")
    for activity in f.engagement_activities:
        lines += ["", "[[features.engagement]]"]
        if comments and activity is f.engagement_activities[0]:
            lines.append("# Engagement score: each activity earns weight * min(value / target, 1) points")
            lines.append("# (target 0: the full weight when the value is above 0); weights are rescaled to 100.")
        put("signal", activity.signal, "")
        put("weight", activity.weight, "")
        put("target", activity.target, "")
    lines += ["", "[outcomes]"]
    notes = {
        "horizon_days": "Outcomes look at [as_of, as_of + horizon_days).",
        "grace_days": "A gap between subscription terms shorter than this is not churn.",
        "min_term_days": "Fixed terms at least this long are renewals (monthly plans are not).",
        "trial_days": "A trial ends this many days after accounts.created_at.",
        "churn_definition": "contract (or subscription): no subscription at the window's end; "
        "activity: no usage event in the window.",
        "active_days": "activity churn: an event this many days before as_of makes an account eligible.",
    }
    for key in OUTCOME_KEYS:
        put(key, getattr(o, key), notes.get(key, ""))
    lines += ["", "[input]"]
    if comments:
        lines += [
            "# Your names for the contract's tables and columns (contract name = your name), and the",
            "# format of any timestamp column that is not ISO 8601 (2025-02-10 or 2025-02-10T14:30:00Z).",
            "# For example:",
            '# tables.usage_events = "events_export"          # reads events_export.csv or .parquet',
            '# accounts.account_id = "customer_number"',
            '# accounts.created_at = "signup_date"',
            '# formats."accounts.created_at" = "%d/%m/%Y"',
            '# formats."usage_events.timestamp" = "%d/%m/%Y %H:%M"',
        ]
    for name, value in sorted(m.tables.items()):
        lines.append(f"tables.{name} = {_toml(value)}")
    for table, mapping in m.columns.items():
        for column, value in mapping.items():
            lines.append(f"{table}.{column} = {_toml(value)}")
    for key, value in sorted(m.formats.items()):
        lines.append(f"formats.{_toml(key)} = {_toml(value)}")
    if comments or settings.spark:
        lines += ["", "[spark]"]
    if comments:
        lines += [
            "# Configuration of a local Spark session (--engine spark), quoted keys as in spark-defaults.conf.",
            "# Spark's own configuration (spark-defaults.conf, spark-submit --conf, an active session) wins.",
            "# Defaults: features/spark_conf.py. For example:",
            '# "spark.driver.memory" = "4g"',
            '# "spark.sql.shuffle.partitions" = "8"',
        ]
    for key, value in sorted(settings.spark.items()):
        lines.append(f"{_toml(key)} = {_toml(value)}")
    return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def example_settings() -> str:
    """The commented settings file of ``churn config --example``: every key at its default."""
    header = (
        "# churn settings file: `churn <command> --config churn.toml`. Every key is optional;\n"
        "# a key left out keeps the default shown here. Check a file with `churn config --check FILE`.\n"
        "# Reference: docs/settings.md\n\n"
    )
    return header + dump_settings(Settings(), comments=True)


# --- which settings a run uses -------------------------------------------------------------


def data_settings_file(data: str | Path | None) -> Path | None:
    """A dataset folder's own settings file (``churn.toml`` beside the tables), if it has one."""
    if data is None:
        return None
    candidate = Path(data) / DATA_SETTINGS_FILE
    return candidate if Path(data).is_dir() and candidate.is_file() else None


def for_scoring(saved: Settings | None, given: Settings | None) -> tuple[Settings, str | None]:
    """The settings a scoring run uses: the model's features and outcomes, always.

    ``given`` (a ``--config`` file) may only change the input mapping (the data's layout) and
    the Spark configuration;
    a ``given`` whose features or outcomes differ from the model's is refused, because
    scoring with other settings than training would give numbers the model never learned.
    Returns the settings and a note for the user, or None.
    """
    if given is None:
        return (saved or Settings()), None
    if saved is None:
        return Settings(input=given.input, source=given.source, spark=given.spark), (
            f"the model folder has no {SETTINGS_FILE} (a model trained on a table): "
            f"using only [input] and [spark] of {given.source}"
        )
    differ = difference(saved, given)
    if differ:
        raise SettingsError(
            f"{given.source}: {differ} differs from the model's {SETTINGS_FILE}; scoring uses the settings the "
            "model was trained with: drop --config (or keep only its [input] table), or retrain"
        )
    return Settings(saved.features, saved.outcomes, given.input, given.source, given.spark), None


def difference(a: Settings, b: Settings) -> str | None:
    """The first ``[features]`` or ``[outcomes]`` key whose value differs, as ``key (a vs b)``."""
    for part in ("features", "outcomes"):
        left, right = asdict(getattr(a, part)), asdict(getattr(b, part))
        for key in left:
            if key == "event_types" and right[key] is None:  # b leaves the choice of event types to training
                continue
            if left[key] != right[key]:
                return f"{part}.{key} ({_short(right[key])} vs the model's {_short(left[key])})"
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
