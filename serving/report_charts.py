"""The report's charts, drawn with matplotlib from the report dict (so they plot exactly its numbers).

Figures are made without pyplot (no GUI backend, no global state) and exported as inline
SVG (text kept as text, ids salted with the chart name so many SVGs can share one page,
no timestamp so the same report gives the same bytes) or as PNG.
"""

from __future__ import annotations

import io
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

SEGMENT_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
BAND_COLORS = {"red": "#d62728", "yellow": "#e8b600", "green": "#2ca02c", "none": "#999999"}
ENGAGEMENT = (
    ("engagement_disengaged", "0-40", "#d62728"),
    ("engagement_somewhat", "41-75", "#e8b600"),
    ("engagement_highly", "76-100", "#2ca02c"),
)
UNIT_LABELS = {
    "percent": "%",
    "points": "NPS points",
    "currency": "currency",
    "hours": "hours",
    "days": "days",
    "score": "score",
}


def _axes(title: str, size: tuple[float, float] = (4.8, 2.7)) -> tuple[Figure, Any]:
    fig = Figure(figsize=size, dpi=100, layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(title, fontsize=10, loc="left")
    ax.grid(axis="y", color="#e5e5e5", linewidth=0.8)
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=8)
    return fig, ax


def _month_ticks(ax: Any, months: list[str]) -> None:
    step = max(1, len(months) // 6)
    ticks = list(range(0, len(months), step))
    ax.set_xticks(ticks, [months[i] for i in ticks])
    ax.set_xlim(-0.5, len(months) - 0.5)


def _values(values: list[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def kpi_figure(kpi: dict[str, Any], series: dict[str, list[float | None]], months: list[str]) -> Figure:
    """One KPI over the months: a line per segment, ``all`` drawn thick and dark."""
    fig, ax = _axes(kpi["label"])
    x = np.arange(len(months))
    others = [s for s in series if s != "all"]
    for i, segment in enumerate(others):
        ax.plot(
            x,
            _values(series[segment]),
            color=SEGMENT_COLORS[i % len(SEGMENT_COLORS)],
            linewidth=1.2,
            marker="o",
            markersize=2.5,
            label=segment,
        )
    if "all" in series:
        ax.plot(x, _values(series["all"]), color="#222222", linewidth=2.2, marker="o", markersize=3, label="all")
    ax.set_ylabel(UNIT_LABELS.get(kpi["unit"], kpi["unit"]), fontsize=8)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}" if abs(v) >= 1000 else f"{v:g}"))
    _month_ticks(ax, months)
    if len(series) > 1:
        fig.legend(fontsize=7, frameon=False, ncols=min(5, len(series)), loc="outside lower center")
    return fig


def engagement_figure(series: dict[str, dict[str, list[float | None]]], months: list[str]) -> Figure:
    """Engagement-score bands of all customers, month by month, as stacked shares."""
    fig, ax = _axes("Engagement-score bands (all customers)")
    x = np.arange(len(months))
    bottom = np.zeros(len(months))
    for name, label, color in ENGAGEMENT:
        values = np.nan_to_num(_values(series[name]["all"]))
        ax.bar(x, values, bottom=bottom, color=color, width=0.8, label=label)
        bottom += values
    ax.set_ylabel("% of customers", fontsize=8)
    ax.set_ylim(0, 100)
    _month_ticks(ax, months)
    fig.legend(fontsize=7, frameon=False, ncols=3, loc="outside lower center")
    return fig


def bands_figure(health: dict[str, Any]) -> Figure:
    """Accounts per health band in the latest scoring, beside the previous one when there is one."""
    fig, ax = _axes(f"Health bands, scoring of {health['as_of']}", size=(4.8, 2.7))
    current = {row["band"]: row["accounts"] for row in health["bands"]}
    names = list(current)
    x = np.arange(len(names))
    colors = [BAND_COLORS.get(n, "#999999") for n in names]
    if health["previous_bands"]:
        before = {row["band"]: row["accounts"] for row in health["previous_bands"]}
        ax.bar(
            x - 0.2,
            [before.get(n, 0) for n in names],
            width=0.4,
            color=colors,
            alpha=0.4,
            label=health["previous_as_of"],
        )
        ax.bar(x + 0.2, [current[n] for n in names], width=0.4, color=colors, label=health["as_of"])
        ax.legend(fontsize=7, frameon=False)
    else:
        ax.bar(x, [current[n] for n in names], width=0.6, color=colors)
    ax.set_xticks(x, names)
    ax.set_ylabel("accounts", fontsize=8)
    return fig


def figures(report: dict[str, Any]) -> dict[str, Figure]:
    """Every chart of the report, by file-safe name, in page order."""
    months = report["months"]
    kpis = report["kpis"]
    charts: dict[str, Figure] = {}
    for kpi in kpis["catalog"]:
        if not kpi["name"].startswith("engagement_"):
            charts[f"kpi_{kpi['name']}"] = kpi_figure(kpi, kpis["series"][kpi["name"]], months)
    if all(name in kpis["series"] for name, _, _ in ENGAGEMENT):
        charts["engagement_bands"] = engagement_figure(kpis["series"], months)
    if report.get("health"):
        charts["health_bands"] = bands_figure(report["health"])
    return charts


def to_svg(fig: Figure, name: str) -> str:
    """The figure as an ``<svg>`` element to inline in HTML (no XML prolog, no date)."""
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": name}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def to_png(fig: Figure, dpi: int = 110) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()
