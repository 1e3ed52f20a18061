"""The KPI report: hand-checked band movement, strict inputs, and one end-to-end run of `churn report`."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner
from worlds import generated_world

from churn.cli import app
from features.errors import DataError
from features.kpi import compute_kpis
from features.loader import load_dataset
from serving.dataset_scoring import score_dataset
from serving.outputs import read_scores, write_scores
from serving.report import band_rows, check_scores, drift_section, num, transitions
from serving.scorer import Scorer
from training.artifact import write_model_folder
from training.lgbm import LGBMParams
from training.train import TrainConfig, train

FAST = TrainConfig(
    outcomes=("churn",),
    lgbm=LGBMParams(num_boost_round=60, early_stopping_rounds=20),
    folds=3,
)
runner = CliRunner()


def _scores(as_of: str, bands: dict[str, str], arr: float = 100.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account_id": list(bands),
            "as_of": pd.Timestamp(as_of, tz="UTC"),
            "health_band": list(bands.values()),
            "arr": arr,
            "arr_at_risk": arr / 4,
        }
    )


def test_band_movement_by_hand() -> None:
    """a red->yellow (better), b stays yellow, c green->red (worse); d left, e is new."""
    before = _scores("2025-01-01", {"a": "red", "b": "yellow", "c": "green", "d": "red"})
    after = _scores("2025-02-01", {"a": "yellow", "b": "yellow", "c": "red", "e": "green"})
    t = transitions(before, after)
    assert t["matrix"] == [[0, 1, 0], [0, 1, 0], [1, 0, 0]]
    assert (t["improved"], t["worsened"], t["unchanged"], t["new"], t["left"]) == (1, 1, 1, 1, 1)
    assert (t["from"], t["to"]) == ("2025-01-01", "2025-02-01")


def test_band_rows_by_hand() -> None:
    """Three red of four accounts: 75%, ARR 300, ARR at risk 75; an empty band has 0 accounts and no ARR."""
    rows = band_rows(_scores("2025-01-01", {"a": "red", "b": "red", "c": "red", "d": "green"}))
    assert rows[0] == {"band": "red", "accounts": 3, "share": 75.0, "arr": 300.0, "arr_at_risk": 75.0}
    assert rows[1] == {"band": "yellow", "accounts": 0, "share": 0.0, "arr": None, "arr_at_risk": None}


def test_scores_with_an_unknown_band_or_no_band_column_are_refused() -> None:
    bad = _scores("2025-01-01", {"a": "red", "b": "purple"})
    with pytest.raises(
        DataError,
        match=r"scores.parquet.health_band: not one of red, yellow, green \(1 row\); "
        r"e.g. row 2 \(account_id='b', health_band='purple'\)",
    ):
        check_scores(bad, "scores.parquet")
    with pytest.raises(DataError, match="scores.parquet.health_band: required column is missing"):
        check_scores(bad.drop(columns="health_band"), "scores.parquet")


def test_drift_rows_are_sorted_worst_first_and_counted() -> None:
    table = pd.DataFrame({"feature": ["x", "y", "z"], "psi": [0.05, 0.31, 0.12], "status": ["ok", "act", "watch"]})
    d = drift_section(table)
    assert [r["feature"] for r in d["rows"]] == ["y", "z", "x"]
    assert d["counts"] == {"ok": 1, "watch": 1, "act": 1, "history": 0}
    with pytest.raises(ValueError, match="psi is missing"):
        drift_section(table.drop(columns="psi"))


# --- end to end -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated_world(tmp_path_factory, accounts=300, months=15, seed=3)


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory, world_dir: Path) -> dict[str, Any]:
    """A trained model, one file holding two scorings, and the report written by the CLI."""
    dataset = load_dataset(world_dir)
    folder = tmp_path_factory.mktemp("run")
    model = write_model_folder(train(dataset, FAST), folder / "model", data_source=str(world_dir), fingerprint="x")
    scorer = Scorer.load(model)
    end = dataset.tables["usage_events"]["timestamp"].max().normalize()
    scores = pd.concat(
        [score_dataset(dataset, scorer, end - pd.DateOffset(months=1)), score_dataset(dataset, scorer, end)],
        ignore_index=True,
    )
    write_scores(scores, folder / "scores.parquet")
    html, data, pngs = folder / "report.html", folder / "report.json", folder / "charts"
    result = runner.invoke(
        app,
        [
            "report",
            "--data",
            str(world_dir),
            "--model",
            str(model),
            "--scores",
            str(folder / "scores.parquet"),
            "--out",
            str(html),
            "--json",
            str(data),
            "--png-dir",
            str(pngs),
        ],
    )
    assert result.exit_code == 0, result.output
    return {
        "html": html.read_text(encoding="utf-8"),
        "json": json.loads(data.read_text()),
        "pngs": pngs,
        "output": result.output,
        "path": html,
        "dataset": dataset,
        "scores": read_scores(folder / "scores.parquet"),
    }


class _Cells(HTMLParser):
    """(data-json path, text) of every element that carries a number of the report."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[tuple[str, str]] = []
        self._open: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        path = dict(attrs).get("data-json")
        if path is not None:
            self.cells.append((path, ""))
        self._open.append(path)

    def handle_endtag(self, tag: str) -> None:
        if self._open:  # number cells hold only text, so the element closing is the last one opened
            self._open.pop()

    def handle_data(self, data: str) -> None:
        if self._open and self._open[-1] is not None:
            path, text = self.cells[-1]
            self.cells[-1] = (path, text + data)


def _at(doc: Any, path: str) -> Any:
    for key in path.split("."):
        doc = doc[int(key)] if isinstance(doc, list) else doc[key]
    return doc


def _numbers(doc: Any, prefix: str = "") -> dict[str, float]:
    """Every number in the JSON by path (bools and the KPI catalog's metadata aside)."""
    if isinstance(doc, dict):
        items = doc.items()
    elif isinstance(doc, list):
        items = ((str(i), v) for i, v in enumerate(doc))
    else:
        return {prefix: doc} if isinstance(doc, int | float) and not isinstance(doc, bool) else {}
    out: dict[str, float] = {}
    for key, value in items:
        path = f"{prefix}.{key}" if prefix else str(key)
        if path != "kpis.catalog":
            out |= _numbers(value, path)
    return out


def test_every_number_in_the_html_equals_the_json(made) -> None:
    """Each number cell shows its JSON value, and every number of the JSON is shown in the HTML."""
    parser = _Cells()
    parser.feed(made["html"])
    shown = dict(parser.cells)
    assert len(shown) == len(parser.cells), "a JSON path is shown twice"
    for path, text in shown.items():
        value = _at(made["json"], path)
        if value is None:
            assert text == "\u2014", (path, text)
        else:
            assert float(text.replace(",", "")) == value, (path, text, value)
    numbers = _numbers(made["json"])
    assert len(numbers) > 500
    assert set(numbers) <= set(shown), sorted(set(numbers) - set(shown))[:5]


def test_the_json_holds_the_kpi_engine_numbers(made) -> None:
    """The report's series are the engine's values rounded to the digits shown; empty months stay null."""
    kpis = compute_kpis(made["dataset"])
    report = made["json"]
    digits = {k["name"]: k["digits"] for k in report["kpis"]["catalog"]}
    frame = kpis.frame
    for row in frame.itertuples():
        got = report["kpis"]["series"][row.kpi][row.segment][report["months"].index(row.month.strftime("%Y-%m"))]
        assert got == num(row.value, digits[row.kpi]), (row.kpi, row.segment, row.month)
    assert frame["value"].isna().any() and any(v is None for s in report["kpis"]["series"].values() for v in s["all"])


def test_the_report_shows_the_referral_rate_by_month_and_segment(made) -> None:
    """The seed's referral rate (purchases through a referral / all purchases) has a series per segment."""
    report = made["json"]
    series = report["kpis"]["series"]["referral_rate"]
    assert set(series) == set(report["segments"])
    assert all(len(values) == len(report["months"]) for values in series.values())
    assert any(v is not None and 0 < v <= 100 for v in series["all"])
    assert "Referral rate" in made["html"]


def test_the_health_section_compares_the_two_scorings(made) -> None:
    """Both scorings of the file are used; the movement accounts for every account of each."""
    health, scores = made["json"]["health"], made["scores"]
    dates = sorted(scores["as_of"].unique())
    assert (health["previous_as_of"], health["as_of"]) == tuple(f"{d:%Y-%m-%d}" for d in dates)
    t = health["transitions"]
    matrix = np.array(t["matrix"])
    assert matrix.sum() + t["new"] == (scores["as_of"] == dates[1]).sum() == health["accounts"]
    assert matrix.sum() + t["left"] == (scores["as_of"] == dates[0]).sum()
    assert t["improved"] + t["worsened"] + t["unchanged"] == matrix.sum()
    assert sum(b["accounts"] for b in health["bands"]) == health["accounts"]


def test_model_metrics_and_drift_are_in_the_report(made) -> None:
    model, drift = made["json"]["model"], made["json"]["drift"]
    churn = next(o for o in model["outcomes"] if o["name"] == "churn")
    auc = next(m for m in churn["metrics"] if m["key"] == "roc_auc")["values"]["model"]
    assert 0.5 < auc <= 1.0
    assert drift["note"] is None and len(drift["rows"]) > 5
    assert {r["status"] for r in drift["rows"]} <= {"ok", "watch", "act", "history", "n/a"}
    assert sum(drift["counts"].values()) <= len(drift["rows"])


def test_the_page_is_self_contained_and_shows_every_chart_as_svg_and_png(made) -> None:
    """No external resource; one inline SVG per chart; each chart also a non-blank PNG."""
    html = made["html"]
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "<script" not in html and "<link" not in html
    assert not re.search(r"url\((?!#)", html)  # SVG clip paths point inside the page: url(#id)
    catalog = [k["name"] for k in made["json"]["kpis"]["catalog"]]
    expected = {f"kpi_{k}" for k in catalog if not k.startswith("engagement_")} | {"engagement_bands", "health_bands"}
    assert html.count("<svg") == len(expected)
    pngs = {p.stem: p for p in made["pngs"].glob("*.png")}
    assert set(pngs) == expected
    for path in pngs.values():
        image = Image.open(BytesIO(path.read_bytes()))
        assert image.format == "PNG" and image.size[0] > 300 and image.size[1] > 200
        assert np.asarray(image.convert("L"), dtype=float).std() > 10, f"{path.name} looks blank"
    assert "report:" in made["output"] and "Customer churn rate" in made["output"]


def test_the_page_renders_in_a_browser(made) -> None:
    """Headless Chromium draws every chart with a real size and loads nothing but the file itself."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.support.ui import WebDriverWait

    browser, driver_bin = shutil.which("chromium") or shutil.which("google-chrome"), shutil.which("chromedriver")
    if not browser or not driver_bin:
        pytest.skip("no Chromium and chromedriver on this machine")
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"):
        options.add_argument(flag)
    options.binary_location = browser
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver_bin))
    expected = made["html"].count("<svg")
    try:
        driver.get(made["path"].as_uri())
        # A loaded CI machine once returned from get() with 11 of 16 charts parsed: wait for the whole page.
        WebDriverWait(driver, 60).until(
            lambda d: (
                d.execute_script("return document.readyState === 'complete' && document.querySelectorAll('svg').length")
                == expected
            )
        )
        heights = driver.execute_script(
            "return [...document.querySelectorAll('figure svg')].map(e => e.getBoundingClientRect().height)"
        )
        resources = driver.execute_script("return performance.getEntriesByType('resource').length")
        shot = Image.open(BytesIO(driver.get_screenshot_as_png()))
    finally:
        driver.quit()
    assert len(heights) == expected and min(heights) > 100
    assert resources == 0
    assert np.asarray(shot.convert("L"), dtype=float).std() > 10


def test_cli_refuses_bad_input_with_one_line(tmp_path: Path, world_dir: Path) -> None:
    """Exit 2 and one line: a non-HTML target, a scores file with an unknown band, a missing dataset."""
    out = str(tmp_path / "r.html")
    result = runner.invoke(app, ["report", "--data", str(world_dir), "--out", str(tmp_path / "r.pdf")])
    assert result.exit_code == 2 and "--out must be an .html file" in result.output
    bad = tmp_path / "bad.csv"
    _scores("2025-01-01", {"a": "red", "b": "blue"}).to_csv(bad, index=False)
    result = runner.invoke(app, ["report", "--data", str(world_dir), "--scores", str(bad), "--out", out])
    assert result.exit_code == 2 and "health_band: not one of red, yellow, green" in result.output
    assert not Path(out).exists()
    result = runner.invoke(app, ["report", "--data", str(tmp_path / "nowhere"), "--out", out])
    assert result.exit_code == 2 and "dataset not found" in result.output
