"""The account's story end to end: history store, backfill, exact changes, what-if, API, CRM fields, alerts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from api_support import AUTH, assert_error, backfill_history, loaded_app, make_world_and_model
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from churn.cli import app as cli
from features.loader import load_dataset
from serving.breakdown import score_of
from serving.crm import DEFAULT_MAPPING, crm_frame
from serving.history import read_history, record
from serving.history_runs import backfill_dates, score_explained
from serving.scorer import Scorer
from serving.story import Story, crm_change_fields
from serving.whatif import changed

DATES = ["2025-03-01", "2025-04-01", "2025-05-01"]


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    world, model = make_world_and_model(tmp_path_factory.mktemp("story"))
    return world, model, backfill_history(world, model, DATES)


@pytest.fixture(scope="module")
def client(paths):
    with TestClient(loaded_app(model_dir=paths[1], data_dir=paths[0]), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def stored(paths) -> tuple[pd.DataFrame, pd.DataFrame]:
    return read_history(paths[2])


def test_re_running_a_date_replaces_its_rows_and_adds_none(paths, stored) -> None:
    """Recording a date again keeps one row per (account_id, as_of, model version)."""
    world, model, history = paths
    scorer = Scorer.load(model)
    again = score_explained(load_dataset(world), scorer, pd.Timestamp(DATES[-1], tz="UTC"))
    kept = record(history, again.history_scores, again.history_details)
    scores, details = read_history(history)
    assert kept == len(scores) == len(stored[0])
    assert len(details) == len(stored[1])
    assert not scores.duplicated(["account_id", "as_of", "model_version"]).any()
    assert not details.duplicated(["account_id", "as_of", "model_version", "signal"]).any()
    assert sorted(scores["as_of"].dt.strftime("%Y-%m-%d").unique()) == DATES


def test_stored_contributions_add_up_to_the_models_log_odds(paths, stored) -> None:
    """Per scoring, the signals' contributions plus the base value equal the churn model's raw score."""
    scores, details = stored
    totals = details.groupby(["account_id", "as_of"])["contribution"].sum(min_count=1)
    joined = scores.set_index(["account_id", "as_of"])["churn_log_odds"]
    assert np.allclose(totals.reindex(joined.index), joined, atol=1e-9)
    scorer = Scorer.load(paths[1])
    calibrated = scorer.bundle.outcomes["churn"].calibrator.predict(scores["churn_log_odds"].to_numpy())
    assert np.allclose(calibrated, scores["churn_probability"], atol=1e-9)


def test_every_change_decomposes_exactly(stored) -> None:
    """Health: measures' point changes sum exactly to the change; churn: signals sum to the log-odds change."""
    story = Story(*stored)
    changes = story.changes()
    assert len(changes) > 100
    for mover in changes:
        c = mover.change
        assert sum(m.change for m in c.measures) == c.health_change
        assert abs(sum(s.log_odds_change for s in c.signals) - c.log_odds_change) < 1e-6


def test_the_changes_endpoint_is_exact_and_in_plain_words(client) -> None:
    item = client.get("/v1/movers", headers=AUTH, params={"n": 5}).json()["items"][0]
    for lang in ("en", "tr"):
        body = client.get(f"/v1/accounts/{item['account_id']}/changes", headers=AUTH, params={"lang": lang}).json()
        c = body["change"]
        assert round(sum(m["change"] for m in c["measures"]) * 10) == round(c["health_change"] * 10)
        assert round(c["health_after"] * 10) - round(c["health_before"] * 10) == round(c["health_change"] * 10)
        assert abs(sum(s["log_odds_change"] for s in c["signals"]) - c["log_odds_change"]) < 1e-6
        assert "log-odds" not in c["health_sentence"] + c["churn_sentence"]
    assert c["health_sentence"].startswith("Sağlık skoru")
    since = client.get(f"/v1/accounts/{item['account_id']}/changes", headers=AUTH, params={"since": DATES[0]}).json()[
        "change"
    ]
    assert since["since"].startswith(DATES[0])


def test_history_lists_one_point_per_date_oldest_first(client) -> None:
    top = client.get("/v1/risk-list", headers=AUTH).json()["items"][0]
    body = client.get(f"/v1/accounts/{top['account_id']}/history", headers=AUTH).json()
    dates = [p["as_of"] for p in body["items"]]
    assert len(dates) >= 3 and dates == sorted(dates) and len(set(dates)) == len(dates)
    assert dates[-1] == top["as_of"] and body["items"][-1]["health_score"] == top["health_score"]
    assert [b[0] for b in body["bands"]] == ["red", "yellow", "green"]
    assert_error(client.get("/v1/accounts/nobody/history", headers=AUTH), 404)
    assert_error(client.get("/v1/accounts/nobody/what-if"), 401)


def test_the_breakdown_adds_up_to_the_served_score(client) -> None:
    for top in client.get("/v1/risk-list", headers=AUTH, params={"page_size": 20}).json()["items"]:
        body = client.get(f"/v1/accounts/{top['account_id']}/breakdown", headers=AUTH).json()
        total = sum(round(m["points"] * 10) for c in body["components"] for m in c["measures"])
        assert total == round(top["health_score"] * 10)
        assert all(
            round(c["points"] * 10) == sum(round(m["points"] * 10) for m in c["measures"]) for c in body["components"]
        )


def test_the_what_if_predicts_the_scorecards_score_of_the_changed_account(client, paths, stored) -> None:
    """For red and yellow accounts, the plan's predicted score is the scorecard's score with the plan applied."""
    scorecard = Scorer.load(paths[1]).bundle.scorecard
    listed = client.get("/v1/risk-list", headers=AUTH, params={"page_size": 60}).json()["items"]
    story = client.app.state.service.story
    reached = 0
    for a in [a for a in listed if a["health_band"] in ("red", "yellow")]:
        body = client.get(f"/v1/accounts/{a['account_id']}/what-if", headers=AUTH).json()
        assert body["health_score"] == a["health_score"]
        assert all(o["signal"] not in ("tenure_days", "arr", "days_to_renewal") for o in body["options"])
        if body["reachable"]:
            reached += 1
            plan = [type("O", (), {"signal": o["signal"], "target": o["target"]}) for o in body["plan"]]
            score, band = score_of(changed(story.values(a["account_id"]), plan), scorecard)
            assert (body["predicted_score"], body["predicted_band"]) == (score, band)
            assert band == body["next_band"]
    assert reached > 0


def test_movers_fell_most_first(client) -> None:
    items = client.get("/v1/movers", headers=AUTH, params={"n": 10}).json()["items"]
    changes = [m["health_change"] for m in items]
    assert items and all(c < 0 for c in changes) and changes == sorted(changes)


def test_risk_list_search_and_sort(client) -> None:
    """q finds an account by part of its name in any case; sort orders by a column, missing values last."""
    first = client.get("/v1/risk-list", headers=AUTH).json()["items"][0]
    assert first["name"] and first["renewal_date"] is not None
    part = first["name"].split()[0].upper()
    found = client.get("/v1/risk-list", headers=AUTH, params={"q": part, "page_size": 200}).json()
    assert first["account_id"] in {a["account_id"] for a in found["items"]}
    assert all(part.casefold() in (a["name"] or "").casefold() + a["account_id"].casefold() for a in found["items"])
    by_id = client.get("/v1/risk-list", headers=AUTH, params={"q": first["account_id"].lower()}).json()
    assert by_id["items"][0]["account_id"] == first["account_id"]
    arr = [
        a["arr"]
        for a in client.get("/v1/risk-list", headers=AUTH, params={"sort": "-arr", "page_size": 200}).json()["items"]
    ]
    assert arr == sorted(arr, reverse=True)
    names = [
        a["name"]
        for a in client.get("/v1/risk-list", headers=AUTH, params={"sort": "name", "page_size": 200}).json()["items"]
    ]
    assert names == sorted(names, key=str.casefold)
    assert client.get("/v1/risk-list", headers=AUTH).json()["currency"] == "USD"
    assert_error(client.get("/v1/risk-list", headers=AUTH, params={"sort": "password"}), 422)


def test_the_new_routes_are_in_the_openapi_document(client) -> None:
    doc = client.get("/openapi.json").json()
    for path in (
        "/v1/accounts/{account_id}/history",
        "/v1/accounts/{account_id}/changes",
        "/v1/accounts/{account_id}/what-if",
        "/v1/movers",
    ):
        assert path in doc["paths"], path
        assert "422" in doc["paths"][path]["get"]["responses"]
    params = {p["name"] for p in doc["paths"]["/v1/risk-list"]["get"]["parameters"]}
    assert {"q", "sort"} <= params


def test_crm_change_fields_hold_the_30_day_change(stored) -> None:
    story = Story(*stored)
    latest = stored[0][stored[0]["as_of"] == stored[0]["as_of"].max()]
    out = crm_change_fields(story, latest)
    fields = ("Account_External_Id__c", "Health_Change_30d__c", "Top_Change_Reason__c")
    rows = crm_frame(out, {f: DEFAULT_MAPPING[f] for f in fields})
    assert rows["Top_Change_Reason__c"].str.startswith(("Health fell", "Health rose", "")).all()
    account = out.dropna(subset=["health_change_30d"]).iloc[0]
    history = stored[0][stored[0]["account_id"] == account["account_id"]].set_index("as_of")["health_score"]
    before = history[history.index <= history.index.max() - pd.Timedelta(days=30)].iloc[-1]
    assert account["health_change_30d"] == pytest.approx(history.iloc[-1] - before, abs=1e-9)


def test_churn_alerts_exit_1_with_csv_and_json(paths, tmp_path: Path) -> None:
    """`churn alerts` lists falls and entries into red; exit 1 when there are any, 0 when the threshold hides them."""
    history = paths[2]
    csv, doc = tmp_path / "alerts.csv", tmp_path / "alerts.json"
    result = CliRunner().invoke(
        cli, ["alerts", "--history", str(history), "--drop", "5", "--csv", str(csv), "--json", str(doc)]
    )
    body = json.loads(doc.read_text())
    assert result.exit_code == (1 if body["count"] else 0), result.output
    assert body["count"] > 0 and len(pd.read_csv(csv)) == body["count"]
    assert {a["reason"] for a in body["alerts"]} <= {"entered_red", "fell"}
    assert all(a["health_change"] < -5 or a["band_after"] == "red" for a in body["alerts"])
    quiet = CliRunner().invoke(cli, ["alerts", "--history", str(history), "--drop", "100", "--json", "-"])
    quiet_doc = json.loads(quiet.output)
    assert all(a["reason"] == "entered_red" for a in quiet_doc["alerts"])
    assert quiet.exit_code == (1 if quiet_doc["count"] else 0)
    missing = CliRunner().invoke(cli, ["alerts", "--history", str(tmp_path / "none.duckdb")])
    assert missing.exit_code == 2 and "no score history" in missing.output


def test_backfill_dates_are_monthly_and_end_on_the_last_day() -> None:
    start, end = pd.Timestamp("2025-01-01", tz="UTC"), pd.Timestamp("2025-03-15", tz="UTC")
    assert [d.strftime("%m-%d") for d in backfill_dates(start, end)] == ["01-01", "02-01", "03-01", "03-15"]
    with pytest.raises(ValueError, match="--every"):
        backfill_dates(start, end, "fortnight")
    with pytest.raises(ValueError, match="before it starts"):
        backfill_dates(end, start)
