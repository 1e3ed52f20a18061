"""What the API serves: the verified model, the scores of known accounts, and readiness.

:meth:`Service.load` does the slow work once, before the server reports ready: it loads
the model folder (every file's SHA-256 checked against the manifest), then either scores
the dataset's latest snapshot with :func:`serving.dataset_scoring.score_dataset` (exactly as
`churn score --as-of latest` does, with the health trend since ``trend_days`` earlier) or
reads a scores file. Any failure leaves the service unready with the reason logged.
Request handlers only look things up here or hand rows to the micro-batcher.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.errors import DataError
from features.loader import load_dataset
from features.settings import SETTINGS_FILE, SettingsError, for_scoring, load_settings
from features.signals import Signal, registry
from features.validation import data_end, require_valid
from serving.batching import Batcher, process_scorer, thread_scorer
from serving.dataset_scoring import score_dataset
from serving.history import default_path, read_history
from serving.history_runs import score_explained
from serving.middleware import Metrics
from serving.outputs import read_scores
from serving.scorer import Scorer, top_accounts
from serving.settings import Settings
from serving.story import Story, latest_values, with_context
from serving.whatif import healthy_typical
from training.model.folder import ModelFolderError

log = logging.getLogger("churn.serve")
CONTEXT = ("account_id", "as_of", "segment", "csm_owner")


@dataclass(frozen=True)
class Served:
    """Scores of the known accounts, ranked by ARR at risk, with an index by account_id."""

    scores: pd.DataFrame
    rows: list[dict[str, Any]]  # the same rows as dicts, in rank order
    index: dict[str, int]
    as_of: pd.Timestamp | None
    owners: list[str]
    segments: list[str]

    @classmethod
    def of(cls, scores: pd.DataFrame) -> Served:
        if len(scores):  # one row per account: its latest scoring
            scores = scores[scores["as_of"] == scores["as_of"].max()]
        ranked = top_accounts(scores, n=len(scores)).reset_index(drop=True)
        rows = ranked.to_dict("records")
        return cls(
            ranked,
            rows,
            {str(r["account_id"]): i for i, r in enumerate(rows)},
            ranked["as_of"].max() if len(ranked) else None,
            _levels(ranked, "csm_owner"),
            _levels(ranked, "segment"),
        )


def _levels(frame: pd.DataFrame, column: str) -> list[str]:
    return sorted(str(v) for v in frame[column].dropna().unique()) if column in frame else []


class Service:
    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        self.settings, self.metrics = settings, metrics or Metrics()
        self.status = "loading"
        self.reason: str | None = "loading the model and the scores"
        self.scorer: Any = None
        self.served: Served | None = None
        self.batcher: Batcher | None = None
        self.outcomes: frozenset[str] = frozenset()
        self.story: Any = None  # serving.story.Story: history, changes, movers
        self.targets: dict[str, float] = {}  # typical healthy value per signal, for the what-if
        self.catalog = served_catalog(settings.model_dir)  # the signals a posted account carries

    @property
    def ready(self) -> bool:
        return self.status == "ready" and not (self.batcher is not None and self.batcher.broken)

    @property
    def model_version(self) -> str | None:
        return self.scorer.version if self.scorer is not None else None

    def load(self) -> None:
        """Load and check everything; afterwards the service is ready or failed (reason logged)."""
        try:
            scorer = Scorer.load(self.settings.model_dir)
            for line in scorer.bundle.warnings:
                log.warning("model: %s", line)
            # The request schema was built from the catalog before the checksums were verified: every
            # column the model reads must be one a posted account carries.
            posted = {s.name for s in self.catalog}
            outside = [s for s in scorer.inputs if s not in posted]
            if outside:
                raise ValueError(f"the model reads features outside its signal catalog ({', '.join(outside[:3])})")
            batcher = self._batcher(scorer)
            scores, story = self._scores(scorer)
            served = Served.of(with_context(scores, story))
            targets = self._targets(scorer, story, served)
        except (ModelFolderError, DataError, ValueError, OSError, KeyError) as exc:
            self._fail(f"{exc.__class__.__name__}: {exc}")
            return
        except Exception as exc:  # noqa: BLE001 - any start-up failure must leave the server unready, not crash it
            log.exception("start-up failed")
            self._fail(f"unexpected {exc.__class__.__name__} while loading")
            return
        self.scorer, self.batcher, self.served = scorer, batcher, served
        self.story, self.targets = story, targets
        self.outcomes = frozenset(scorer.bundle.outcomes)
        self.status, self.reason = "ready", None
        self.metrics.ready.set(1)
        log.info("ready: model %s, %d accounts served as of %s", scorer.version, len(served.rows), served.as_of)

    def _batcher(self, scorer: Any) -> Batcher:
        workers = self.settings.scorer_processes
        if workers:
            score, executor = process_scorer(self.settings.model_dir, scorer.version, workers)
        else:
            score, executor = thread_scorer(scorer)
        batcher = Batcher(score, executor, workers=max(workers, 1), max_pending=self.settings.max_pending_rows)
        try:
            # Warm-up, all at once so that every worker process starts now (the pool starts them on demand).
            warm = [
                executor.submit(batcher.score_records, [example_record(self.catalog)]) for _ in range(max(workers, 1))
            ]
            for future in warm:
                future.result()
        except BaseException:
            batcher.close()
            raise
        return batcher

    def _fail(self, reason: str) -> None:
        self.status, self.reason = "failed", reason
        log.error("not ready: %s", reason)

    def _scores(self, scorer: Any) -> tuple[pd.DataFrame, Any]:
        """The scores to serve and the story (stored history plus, in --data mode, the scoring just made)."""
        settings = self.settings
        stored = read_history(settings.history_file or default_path(settings.model_dir))
        if settings.scores_file is not None:
            return read_scores(settings.scores_file), Story.combine(stored, prefer=scorer.version)

        assert settings.data_dir is not None
        given = load_settings(settings.config_file) if settings.config_file is not None else None
        run, _ = for_scoring(scorer.bundle.settings, given)  # the model's settings; --config only for [input]
        dataset = load_dataset(settings.data_dir, mapping=run.input)
        require_valid(dataset)
        end = data_end(dataset)
        if end is None:
            raise ValueError(f"{settings.data_dir}: the dataset has no dated rows")
        as_of = end.normalize()  # the same snapshot as `churn score --as-of latest`
        previous = None
        if settings.trend_days:
            previous = score_dataset(dataset, scorer, as_of - pd.Timedelta(days=settings.trend_days))
        scored = score_explained(dataset, scorer, as_of, previous=previous)
        story = Story.combine(stored, (scored.history_scores, scored.history_details), prefer=scorer.version)
        return scored.scores, story

    @staticmethod
    def _targets(scorer: Any, story: Any, served: Served) -> dict[str, float]:
        """The typical healthy account's value of each signal: the median over the green accounts served."""
        values = latest_values(story, list(served.index))
        fallback = dict(zip(scorer.signals, scorer.typical.tolist(), strict=True))
        return healthy_typical(values, served.scores["health_band"], fallback)

    def close(self) -> None:
        if self.batcher is not None:
            self.batcher.close()


def served_catalog(model_dir: Path) -> tuple[Signal, ...]:
    """The signal catalog of the model in ``model_dir``: the fixed signals and those generated for
    the event types of its settings.toml (``features.signals.registry``).

    Read at start-up, before the model loads, because the app's request schema is built from it;
    :meth:`Service.load` then checks the verified model against it. Without readable settings
    (a table-trained model, a broken folder) it is the fixed catalog, and loading says what is wrong.
    """
    try:
        return registry(load_settings(Path(model_dir) / SETTINGS_FILE).features)
    except SettingsError:
        return registry()


def example_record(
    catalog: Sequence[Signal], account_id: str = "example", as_of: pd.Timestamp | None = None
) -> dict[str, Any]:
    """A record with every signal of ``catalog`` missing: what the scorer accepts, for warm-up and docs."""
    stamp = as_of if as_of is not None else pd.Timestamp.now(tz="UTC").normalize()
    return {
        "account_id": account_id,
        "as_of": stamp,
        "segment": None,
        "csm_owner": None,
        **{s.name: np.nan for s in catalog},
    }
