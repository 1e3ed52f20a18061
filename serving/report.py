"""The portfolio KPI report: every number in one dict, rendered as one self-contained HTML file.

:func:`build_report` gathers the KPIs (:mod:`features.kpi`), the health bands of one or two
scorings, the model's test metrics and an optional drift table into a plain dict of
rounded numbers. The HTML, its charts and the ``--json`` file are all made from that dict,
so they show the same numbers. Numbers are rounded to the digits the report shows them
with; a missing value is ``None`` (shown as a dash), never 0.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape

from features.atomic_write import write_bytes
from features.errors import DataError, Problem
from features.kpi import ALL, KPIS_VERSION, KPIResult, directions
from serving.report_charts import figures, to_png, to_svg
from training.model_card import METRIC_ROWS

BANDS = ("red", "yellow", "green")
DIGITS = {"percent": 1, "points": 1, "currency": 0, "hours": 1, "days": 1, "score": 2}
UNITS = {"percent": "%", "points": "points", "currency": "ARR", "hours": "hours", "days": "days", "score": "mean"}
FAMILIES = {"model": "LightGBM (calibrated)", "logistic": "logistic regression", "equal_weight": "equal-weight score"}
TEMPLATES = Path(__file__).parent / "templates"
Report = dict[str, Any]


def num(value: Any, digits: int) -> float | None:
    """``value`` rounded to ``digits`` (None for missing or non-finite; -0.0 becomes 0.0)."""
    if value is None or value is pd.NA:
        return None
    x = float(value)
    return None if not math.isfinite(x) else round(x, digits) + 0.0


def kpi_section(result: KPIResult) -> dict[str, Any]:
    """Series per KPI and segment, the latest value of each KPI per segment, and what was skipped."""
    frame = result.frame
    months = list(result.months)
    direction = directions(result.config)
    catalog, series, latest = [], {}, []
    for kpi in result.kpis:
        digits = DIGITS[kpi.unit]
        catalog.append(
            {
                "name": kpi.name,
                "label": kpi.label,
                "unit": kpi.unit,
                "direction": direction[kpi.name],
                "formula": kpi.formula,
                "digits": digits,
            }
        )
        rows = frame[frame["kpi"] == kpi.name].set_index(["segment", "month"])["value"]
        series[kpi.name] = {s: [num(rows.get((s, m)), digits) for m in months] for s in result.segments}
        filled = [i for i, v in enumerate(series[kpi.name][ALL]) if v is not None]
        if filled:
            at = filled[-1]
            latest.append(
                {
                    "kpi": kpi.name,
                    "month": months[at].strftime("%Y-%m"),
                    "values": {s: series[kpi.name][s][at] for s in result.segments},
                }
            )
    return {
        "catalog": catalog,
        "series": series,
        "latest": latest,
        "skipped": [{"name": s.name, "reason": s.reason} for s in result.skipped],
    }


def check_scores(scores: pd.DataFrame, source: str) -> pd.DataFrame:
    """The columns the report reads, or a one-line error naming the file, column and rows."""
    for column in ("account_id", "as_of", "health_band"):
        if column not in scores.columns:
            raise DataError([Problem(source, column, "required column is missing")])
    band = scores["health_band"].astype("string")
    bad = band.notna() & ~band.isin(BANDS)
    if bad.any():
        positions = bad.to_numpy().nonzero()[0]
        rows = tuple(
            {"row": int(p) + 1, "account_id": scores["account_id"].iloc[p], "health_band": band.iloc[p]}
            for p in positions[:5]
        )
        raise DataError([Problem(source, "health_band", f"not one of {', '.join(BANDS)}", int(bad.sum()), rows)])
    out = scores.copy()
    out["as_of"] = pd.to_datetime(out["as_of"], utc=True)
    for column in ("arr", "arr_at_risk"):
        out[column] = pd.to_numeric(out[column], errors="coerce") if column in out else float("nan")
    return out


def _latest_two(scores: pd.DataFrame, previous: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    dates = sorted(scores["as_of"].dropna().unique())
    if not dates:
        raise ValueError("the scores file holds no rows with an as_of date")
    current = scores[scores["as_of"] == dates[-1]]
    if previous is not None and len(previous):
        return current, previous[previous["as_of"] == previous["as_of"].max()]
    return current, scores[scores["as_of"] == dates[-2]] if len(dates) > 1 else None


def band_rows(scores: pd.DataFrame) -> list[dict[str, Any]]:
    """Accounts, share, ARR and ARR at risk per band (plus ``none`` when some rows have no band)."""
    band = scores["health_band"].astype(object).where(scores["health_band"].notna(), "none")
    total = len(scores)
    rows = []
    for name in (*BANDS, "none"):
        part = scores[band == name]
        if name == "none" and part.empty:
            continue
        share = 100 * len(part) / total if total else None
        rows.append(
            {
                "band": name,
                "accounts": len(part),
                "share": num(share, 1),
                "arr": num(part["arr"].sum(min_count=1), 0),
                "arr_at_risk": num(part["arr_at_risk"].sum(min_count=1), 0),
            }
        )
    return rows


def transitions(before: pd.DataFrame, after: pd.DataFrame) -> dict[str, Any]:
    """Band movement between two scorings: a from-band x to-band matrix of accounts, and the rest."""
    old = before.drop_duplicates("account_id").set_index("account_id")["health_band"]
    new = after.drop_duplicates("account_id").set_index("account_id")["health_band"]
    both = pd.DataFrame({"old": old, "new": new}).dropna()
    rank = {b: i for i, b in enumerate(BANDS)}  # red 0 < yellow 1 < green 2: a higher rank is healthier
    moved = both["new"].map(rank) - both["old"].map(rank)
    return {
        "from": _day(before["as_of"].max()),
        "to": _day(after["as_of"].max()),
        "bands": list(BANDS),
        "matrix": [[int(((both["old"] == a) & (both["new"] == b)).sum()) for b in BANDS] for a in BANDS],
        "improved": int((moved > 0).sum()),
        "worsened": int((moved < 0).sum()),
        "unchanged": int((moved == 0).sum()),
        "new": int((~new.index.isin(old.index)).sum()),
        "left": int((~old.index.isin(new.index)).sum()),
    }


def health_section(scores: pd.DataFrame, previous: pd.DataFrame | None = None) -> dict[str, Any]:
    """Band distribution of the latest scoring, by segment, and its movement since the one before."""
    current, before = _latest_two(scores, previous)
    segments = []
    if "segment" in current:
        seg = current["segment"].astype(object).where(current["segment"].notna(), "unknown")
        for name in sorted(seg.unique(), key=str):
            part = current[seg == name]
            segments.append({"segment": str(name), "counts": {b: int((part["health_band"] == b).sum()) for b in BANDS}})
    return {
        "as_of": _day(current["as_of"].max()),
        "accounts": len(current),
        "bands": band_rows(current),
        "previous_as_of": None if before is None else _day(before["as_of"].max()),
        "previous_bands": None if before is None else band_rows(before),
        "segments": segments,
        "transitions": None if before is None else transitions(before, current),
    }


def model_section(metrics: dict[str, Any], version: str) -> dict[str, Any]:
    """Test metrics per outcome and family (LightGBM, baselines), and the health score's backtest."""
    outcomes = []
    for name, families in metrics.get("outcomes", {}).items():
        present = [f for f in FAMILIES if isinstance(families.get(f), dict)]
        main = families.get(present[0], {}) if present else {}
        outcomes.append(
            {
                "name": name,
                "families": present,
                "n": main.get("n"),
                "positive_rate": num(main.get("positive_rate"), 3),
                "metrics": [
                    {"key": key, "label": label, "values": {f: num(families[f].get(key), 3) for f in present}}
                    for key, label in METRIC_ROWS
                ],
            }
        )
    backtest = metrics.get("health_score")
    health = None
    if backtest:
        health = {
            "n": backtest.get("n"),
            "scorecard_auc": num(backtest.get("scorecard", {}).get("roc_auc"), 3),
            "model_auc": num(backtest.get("model", {}).get("roc_auc"), 3),
            "auc_ratio": num(backtest.get("auc_ratio_to_model"), 3),
            "bands": [
                {"band": b, "n": v.get("n"), "churn_rate": num(100 * v["churn_rate"] if v.get("n") else None, 1)}
                for b, v in backtest.get("bands", {}).items()
            ],
        }
    return {"version": version, "families": FAMILIES, "outcomes": outcomes, "health_score": health}


def drift_section(table: pd.DataFrame, as_of: str | None = None, accounts: int | None = None) -> dict[str, Any]:
    """PSI per feature (worst first) and how many features are ok / watch / act / history."""
    for column in ("feature", "psi", "status"):
        if column not in table.columns:
            raise ValueError(f"the drift table needs columns feature, psi and status; {column} is missing")
    ordered = table.sort_values("psi", ascending=False, na_position="last")
    rows = [{"feature": str(r.feature), "psi": num(r.psi, 3), "status": str(r.status)} for r in ordered.itertuples()]
    counts = {s: int((table["status"] == s).sum()) for s in ("ok", "watch", "act", "history")}
    return {"as_of": as_of, "accounts": accounts, "rows": rows, "counts": counts, "note": None}


def build_report(
    kpis: KPIResult,
    *,
    scores: pd.DataFrame | None = None,
    previous_scores: pd.DataFrame | None = None,
    metrics: dict[str, Any] | None = None,
    model_version: str = "",
    drift: pd.DataFrame | None = None,
    drift_note: str | None = None,
    drift_as_of: str | None = None,
    drift_accounts: int | None = None,
    source: str = "",
    generated_at: datetime | None = None,
) -> Report:
    """Every number the report shows, as JSON-ready data (see the module doc)."""
    config = kpis.config
    drift_part = drift_section(drift, drift_as_of, drift_accounts) if drift is not None else None
    if drift_part is None and drift_note:
        drift_part = {"as_of": drift_as_of, "accounts": None, "rows": [], "counts": {}, "note": drift_note}
    return {
        "title": "Portfolio KPI report",
        "source": source,
        "kpi_version": KPIS_VERSION,
        "generated_at": (generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC"),
        "config": {
            "margin": config.margin,
            "grace_days": config.grace_days,
            "min_term_days": config.min_term_days,
            "trial_days": config.trial_days,
        },
        "months": [m.strftime("%Y-%m") for m in kpis.months],
        "segments": list(kpis.segments),
        "kpis": kpi_section(kpis),
        "health": None if scores is None else health_section(scores, previous_scores),
        "model": None if metrics is None else model_section(metrics, model_version),
        "drift": drift_part,
    }


def _day(stamp: Any) -> str:
    return str(pd.Timestamp(stamp).strftime("%Y-%m-%d"))


def render_html(report: Report, charts: dict[str, str]) -> str:
    """The report as one HTML page; ``charts`` are inline SVG documents by chart name."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = fmt
    catalog = {k["name"]: k for k in report["kpis"]["catalog"]}
    engagement = [n for n in ("engagement_disengaged", "engagement_somewhat", "engagement_highly") if n in catalog]
    return env.get_template("report.html.j2").render(
        r=report, charts=charts, catalog=catalog, units=UNITS, bands=BANDS, engagement=engagement
    )


def fmt(value: Any, digits: int = 0) -> str:
    """A number as the report shows it (thousands separators), or an em dash when missing."""
    return "\u2014" if value is None else f"{value:,.{digits}f}"


def to_json(report: Report) -> str:
    return json.dumps(report, indent=1, ensure_ascii=False, allow_nan=False)


def write_report(report: Report, out: Path, *, json_out: Path | None = None, png_dir: Path | None = None) -> list[Path]:
    """Write the HTML (and the JSON, and one PNG per chart), each file atomically; returns the paths."""
    charts = figures(report)
    html = render_html(report, {name: to_svg(fig, name) for name, fig in charts.items()})
    written = [write_bytes(Path(out), html.encode("utf-8"))]
    if json_out is not None:
        written.append(write_bytes(Path(json_out), (to_json(report) + "\n").encode("utf-8")))
    if png_dir is not None:
        written += [write_bytes(Path(png_dir) / f"{name}.png", to_png(fig)) for name, fig in charts.items()]
    return written
