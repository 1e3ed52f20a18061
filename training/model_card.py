"""The model card: what the models are for, what they saw, how well they did, and their limits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for the annotation only: serving.report reads METRIC_ROWS without the training code
    from training.train import TrainingResult

METRIC_ROWS = (
    ("roc_auc", "ROC-AUC"),
    ("pr_auc", "PR-AUC"),
    ("brier", "Brier"),
    ("log_loss", "log loss"),
    ("ece", "ECE (10 bins)"),
    ("lift_top_decile", "lift, top decile"),
    ("recall_top_decile", "recall, top decile"),
    ("arr_captured_top_decile", "ARR at risk captured, top decile"),
)


def metrics_table(outcome: dict[str, Any]) -> str:
    lines = ["| metric | LightGBM (calibrated) | logistic regression | equal-weight score |", "|---|---:|---:|---:|"]
    for key, label in METRIC_ROWS:
        cells = [_cell(outcome.get(m, {}).get(key)) for m in ("model", "logistic", "equal_weight")]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    return "n/a" if value is None or value != value else f"{value:.3f}"


def render_model_card(result: TrainingResult, metrics: dict[str, Any], manifest: dict[str, Any]) -> str:
    folds = metrics["folds"]
    cfg = result.config
    sections = [
        f"# Model card: account churn, renewal and upsell (version {manifest['model_version']})",
        "## Intended use\n"
        "Rank accounts by the probability of each outcome in the next "
        f"{cfg.outcome.horizon_days} days, so customer-success managers can act early; feed the "
        "health score and the red flags. Not for decisions about individual people, pricing, or "
        "anything without a human in the loop.",
        "## Data\n"
        f"- source: `{manifest['data_source']}` (fingerprint `{manifest['data_fingerprint'][:16]}`)\n"
        f"- snapshots: {_CADENCE.get(metrics.get('cadence', '1M'), 'monthly')} as_of dates. The served models "
        f"learned from every settled date, {_span(folds['train'])}; the test metrics come only from the "
        f"held-out folds of a rolling-origin backtest, which tested {_span(folds['test'])} (split by time, "
        "never at random; each fold trained only on dates whose outcome window ended before its test dates)\n"
        f"- churn definition: {cfg.outcome.churn_definition}, horizon {cfg.outcome.horizon_days} days, "
        f"grace {cfg.outcome.grace_days} days\n"
        f"- features: {len(result.spec.names)} point-in-time signals; skipped: "
        f"{', '.join(result.skipped_signals) or 'none'}\n"
        f"- git commit `{manifest['git_commit'][:12]}`, seed {cfg.seed}",
    ]
    if metrics.get("backtest"):
        sections.append(backtest_section(metrics))
    for name, outcome in metrics["outcomes"].items():
        rows = outcome["rows"]
        sections.append(
            f"## {name}: test metrics (mean over the backtest folds)\n"
            f"Rows: the served model learned from {rows['train']:,}; held-out fold rows {rows['test']:,}; "
            f"test positive rate {outcome['model']['positive_rate']:.3f}; calibration: "
            f"{outcome['calibration']['method']}, fitted on the folds' held-out scores (cross-fitted over the "
            "folds for these metrics). Model: "
            + _model_kind(outcome["model"])
            + ".\n\n"
            + metrics_table(outcome)
            + _fold_rows(outcome)
        )
    if getattr(result, "scorecard", None) is not None:
        sections.append(health_score_section(result.scorecard))
    sections.append(
        "## Limits\n"
        "- Learned from the history given; a change in product, pricing or customer mix shifts the "
        "signals (watch `churn drift`).\n"
        "- Probabilities are calibrated on the backtest's held-out scores; recalibrate after large shifts.\n"
        "- Contract outcomes rely on subscription rows as recorded; open-ended monthly rows have no renewal label.\n"
        "- Explanations describe the model, not causes: a red flag is a reason to look, not proof."
    )
    return "\n\n".join(sections) + "\n"


_CADENCE = {"1M": "monthly", "2W": "two-weekly", "1W": "weekly", "7D": "weekly"}


def backtest_section(metrics: dict[str, Any]) -> str:
    """Which dates each fold of the rolling-origin backtest trained on and tested."""
    lines = [
        "## Backtest (rolling origin, expanding window)",
        "| fold | trained on | tested on |",
        "|---:|---|---|",
    ]
    for f in metrics["backtest"]:
        lines.append(
            f"| {f['fold']} | {f['train_from']} to {f['train_to']} ({_dates(f['train_dates'])}) | "
            f"{f['test_from']} to {f['test_to']} ({_dates(f['test_dates'])}) |"
        )
    return "\n".join(lines)


def _model_kind(model: dict[str, Any]) -> str:
    trees = int(model.get("best_iteration", 0))
    if model.get("linear_start"):
        return f"{trees} boosted trees from a linear start (training.linear_start)"
    return f"{trees} boosted trees"


def _dates(n: int) -> str:
    return f"{n} date" if n == 1 else f"{n} dates"


def _fold_rows(outcome: dict[str, Any]) -> str:
    folds = outcome.get("folds") or []
    if not folds:
        return ""
    lines = [
        "",
        "",
        "| fold | test rows | trees | ROC-AUC | logistic ROC-AUC | PR-AUC |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for f in folds:
        lines.append(
            f"| {f['fold']} | {f['rows_test']:,} | {f['trees']} | {_cell(f['model'].get('roc_auc'))} | "
            f"{_cell(f['logistic'].get('roc_auc'))} | {_cell(f['model'].get('pr_auc'))} |"
        )
    return "\n".join(lines)


def _span(dates: list[str]) -> str:
    return f"{dates[0]} to {dates[-1]} ({len(dates)} dates)" if dates else "none"


def health_score_section(scorecard: Any) -> str:
    """The health scorecard: components and weights, and how it ranks churn against the model."""
    learning = scorecard.info.get("learning", {})
    weights = learning.get("weights", "share of the churn model's mean |SHAP|")
    left_out = learning.get("context_signals_not_measures") or []
    timing = (
        f"{', '.join(left_out)} are not measures (the churn probability carries timing)"
        if left_out
        else "renewal timing, tenure, ARR and plan changes are measures with a small, capped share"
    )
    lines = [
        "## Health score (scorecard.yaml)",
        f"A transparent 0-100 score (100 healthiest): {timing}. Weights: {weights}. Curves are isotonic "
        "fits of each measure's SHAP contributions, kept only when they point the catalog's way. "
        "CS ops may edit `scorecard.yaml`; scoring validates it.",
        "",
        "| component | weight | measures (weight within the component) |",
        "|---|---:|---|",
    ]
    for c in scorecard.main.components:
        measures = ", ".join(f"{m.signal} ({m.weight:g})" for m in c.measures)
        lines.append(f"| {c.name} | {c.weight:g} | {measures} |")
    bt = scorecard.info.get("backtest")
    if bt:
        lines += [
            "",
            f"Rolling backtest (a card learned per fold before its test dates) on the churn model's {bt['n']:,} "
            f"held-out snapshots ({bt.get('test_from')} to "
            f"{bt.get('test_to')}); risk = 100 - health score:",
            "",
            "| | health scorecard | LightGBM churn model | equal-weight score |",
            "|---|---:|---:|---:|",
        ]
        for key, label in (("roc_auc", "churn ROC-AUC"), ("lift_top_decile", "lift, top decile")):
            cells = [_cell(bt.get(f, {}).get(key)) for f in ("scorecard", "model", "equal_weight")]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        if "exposed" in bt:  # renewal inside the horizon: the snapshots that can churn, timing held fixed
            cells = [_cell(bt["exposed"].get(f, {}).get("roc_auc")) for f in ("scorecard", "model", "equal_weight")]
            lines.append(f"| churn ROC-AUC, renewal due ({bt['exposed']['n']:,}) | " + " | ".join(cells) + " |")
        lines += ["", "| band | snapshots | churn rate |", "|---|---:|---:|"]
        lines += [f"| {name} | {b['n']:,} | {_cell(b['churn_rate'])} |" for name, b in bt["bands"].items()]
    lines += [
        "",
        f"Onboarding card (tenure under {scorecard.onboarding_days:g} days): "
        + (scorecard.onboarding.note or "learned on young accounts")
        + ".",
    ]
    return "\n".join(lines)
