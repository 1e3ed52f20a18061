"""REST API: keys, input validation, limits, strict JSON, and scores identical to batch scoring."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pandas as pd
import pytest
from api_support import (
    AUTH,
    KEY,
    assert_error,
    loaded_app,
    make_world_and_model,
    posted_signal_names,
    signal_payload,
    strict_json,
)
from fastapi.testclient import TestClient

from features.builders import build_features
from features.loader import Dataset, load_dataset
from features.signals import SIGNALS
from features.validation import data_end
from serving.dataset_scoring import score_dataset
from serving.results import PROBABILITIES
from serving.schemas import MAX_BATCH, AccountScore, RiskList, ScoreResponse
from serving.scorer import Scorer, eligible_features, top_accounts, with_trend

DROP = object()  # a signal left out of a posted account


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_world_and_model(tmp_path_factory.mktemp("api"))


@pytest.fixture(scope="module")
def app(paths: tuple[Path, Path]):
    return loaded_app(model_dir=paths[1], data_dir=paths[0])


@pytest.fixture(scope="module")
def client(app) -> TestClient:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def names(app) -> list[str]:
    """Every signal a posted account carries: the served model's catalog, vocabulary signals included."""
    return posted_signal_names(app)


@pytest.fixture(scope="module")
def dataset(paths: tuple[Path, Path]) -> Dataset:
    return load_dataset(paths[0])


@pytest.fixture(scope="module")
def as_of(dataset: Dataset) -> pd.Timestamp:
    return data_end(dataset).normalize()


@pytest.fixture(scope="module")
def batch(dataset: Dataset, paths: tuple[Path, Path], as_of: pd.Timestamp) -> pd.DataFrame:
    """What `churn score --as-of latest` computes, with the trend over the same 30 days the server uses."""
    scorer = Scorer.load(paths[1])
    previous = score_dataset(dataset, scorer, as_of - pd.Timedelta(days=30))
    return with_trend(score_dataset(dataset, scorer, as_of), previous)


@pytest.fixture(scope="module")
def feature_rows(dataset: Dataset, paths: tuple[Path, Path], as_of: pd.Timestamp) -> pd.DataFrame:
    scorer = Scorer.load(paths[1])
    return eligible_features(
        dataset, build_features(dataset, [as_of], config=scorer.feature_config).frame, scorer.outcome_config
    )


def posted(row: pd.Series, names: list[str], **extra) -> dict:
    account = {
        "account_id": str(row["account_id"]),
        "as_of": row["as_of"].isoformat(),
        "signals": signal_payload(row, names),
    }
    for name in ("segment", "csm_owner"):
        if not pd.isna(row[name]):
            account[name] = str(row[name])
    return {**account, **extra}


def one(client: TestClient, signals: dict, account_id: str = "acct-1") -> dict:
    r = client.post("/v1/score", headers=AUTH, json={"accounts": [{"account_id": account_id, "signals": signals}]})
    assert r.status_code == 200, r.text
    return strict_json(r.text)["results"][0]


def unquoted(flags: list[dict]) -> list[dict]:
    """The flags without the quoted comment (``: "..." (date)``) a text flag's sentence ends with."""
    return [{**f, "sentence": re.sub(r': ".*" \(\d{4}-\d{2}-\d{2}\)$', "", f["sentence"])} for f in flags]


def assert_same_score(api: dict, row: pd.Series) -> None:
    """Probabilities, health, ARR and flags of an API result equal a batch row exactly."""
    for name in (*PROBABILITIES, "health_score", "arr", "arr_at_risk", "health_trend"):
        expected = None if pd.isna(row[name]) else float(row[name])
        assert api[name] == expected, name
    assert api["health_band"] == row["health_band"]
    assert api["red_flags"] == row["red_flags"] and api["green_flags"] == row["green_flags"]
    assert api["model_version"] == row["model_version"]


# --- identity with batch scoring -------------------------------------------------------


def test_known_accounts_score_as_in_batch(client: TestClient, batch: pd.DataFrame) -> None:
    """It returns, for account IDs known in the data, exactly the batch scores at the same as_of."""
    sample = batch.sample(12, random_state=0)
    r = client.post("/v1/score", headers=AUTH, json={"account_ids": list(sample["account_id"])})
    results = strict_json(r.text)["results"]
    ScoreResponse.model_validate(strict_json(r.text))
    for api, (_, row) in zip(results, sample.iterrows(), strict=True):
        assert api["account_id"] == row["account_id"] and pd.Timestamp(api["as_of"]) == row["as_of"]
        assert_same_score(api, row)
        assert strict_json(client.get(f"/v1/accounts/{row['account_id']}", headers=AUTH).text) == api


def test_the_schema_lists_the_served_models_signals(
    client: TestClient, names: list[str], paths: tuple[Path, Path]
) -> None:
    """OpenAPI lists, and requires, the fixed catalog and every signal the model reads, its generated
    vocabulary signals (events_30d__<type>...) included."""
    read = Scorer.load(paths[1]).signals
    assert [n for n in read if "__" in n], "the model reads no vocabulary signal: the test would prove nothing"
    assert set(read) | {s.name for s in SIGNALS} <= set(names)
    schema = strict_json(client.get("/openapi.json").text)["components"]["schemas"]["SignalValues"]
    assert schema["required"] == names


def test_posted_signals_score_as_in_batch(
    client: TestClient,
    batch: pd.DataFrame,
    feature_rows: pd.DataFrame,
    dataset: Dataset,
    paths: tuple[Path, Path],
    as_of: pd.Timestamp,
    names: list[str],
) -> None:
    """Posting an account's signals gives the batch probabilities and flags bitwise, in English and Turkish."""
    rows = feature_rows.sample(8, random_state=1)
    body = {"accounts": [posted(row, names) for _, row in rows.iterrows()]}
    by_id = batch.set_index("account_id")
    turkish = score_dataset(dataset, Scorer.load(paths[1]), as_of, lang="tr").set_index("account_id")
    for lang, expected in (("en", by_id), ("tr", turkish)):
        r = client.post(f"/v1/score?lang={lang}", headers=AUTH, json=body)
        assert r.status_code == 200, r.text
        for api in strict_json(r.text)["results"]:
            row = expected.loc[api["account_id"]].copy()
            row["health_trend"] = None  # a posted account has no earlier scoring
            row["red_flags"] = unquoted(row["red_flags"])  # nor comments to quote
            assert_same_score(api, row)


def test_risk_list_ranks_by_arr_at_risk_and_filters(client: TestClient, batch: pd.DataFrame) -> None:
    """It pages through accounts in the batch ranking and filters by owner, segment and band."""
    ranked = list(top_accounts(batch, n=len(batch))["account_id"])
    seen = []
    for page in (1, 2, 3):
        r = client.get(f"/v1/risk-list?page={page}&page_size=40", headers=AUTH)
        body = RiskList.model_validate(strict_json(r.text))
        seen += [a.account_id for a in body.items]
        assert body.total == len(batch)
    assert seen == ranked[:120]
    owner = batch["csm_owner"].dropna().iloc[0]
    segment = batch["segment"].dropna().iloc[0]
    for query, mask in (
        (f"owner={owner}", batch["csm_owner"] == owner),
        (f"segment={segment}", batch["segment"] == segment),
        ("band=red", batch["health_band"] == "red"),
        (f"band=yellow&owner={owner}", (batch["health_band"] == "yellow") & (batch["csm_owner"] == owner)),
    ):
        r = client.get(f"/v1/risk-list?{query}&page_size=200", headers=AUTH)
        body = strict_json(r.text)
        expected = batch[mask.fillna(False)]
        assert body["total"] == len(expected) > 0, query
        assert [a["account_id"] for a in body["items"]] == [a for a in ranked if a in set(expected["account_id"])]
        assert body["arr_at_risk_total"] == pytest.approx(expected["arr_at_risk"].sum())


def test_micro_batched_requests_score_like_single_ones(app, feature_rows: pd.DataFrame, names: list[str]) -> None:
    """Thirty concurrent requests share scorer calls yet each gets exactly its own account's score."""
    import asyncio

    import httpx

    rows = [posted(r, names) for _, r in feature_rows.head(30).iterrows()]
    service = app.state.service

    async def run() -> list[dict]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", headers=AUTH) as c:
            before = service.batcher.calls
            replies = await asyncio.gather(*[c.post("/v1/score", json={"accounts": [row]}) for row in rows])
            calls = service.batcher.calls - before
            alone = [(await c.post("/v1/score", json={"accounts": [row]})).json()["results"][0] for row in rows[:5]]
        return [r.json()["results"][0] for r in replies], alone, calls

    together, alone, calls = asyncio.run(run())
    assert [r["account_id"] for r in together] == [r["account_id"] for r in rows]
    assert together[:5] == alone
    assert calls < len(rows) / 2, f"{len(rows)} concurrent requests took {calls} scorer calls"


# --- keys ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-key-0123456789"},
        {"Authorization": f"Basic {KEY}"},
        {"Authorization": f"Bearer {KEY}x"},
        {"Authorization": KEY},
        {"X-API-Key": KEY},
    ],
)
@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/v1/risk-list"),
        ("GET", "/v1/accounts/A000001"),
        ("POST", "/v1/score"),
        ("GET", "/metrics"),
    ],
)
def test_every_v1_route_needs_the_key(client: TestClient, headers: dict, method: str, path: str) -> None:
    """It answers 401 with a Bearer challenge to a missing, wrong or malformed key, and to a key in the query."""
    r = client.request(method, path, headers=headers, json={"account_ids": ["A000001"]})
    assert_error(r, 401)
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert KEY not in r.text
    assert_error(client.request(method, f"{path}?api_key={KEY}&key={KEY}", json={"account_ids": ["x"]}), 401)


def test_health_is_open_and_every_response_has_a_request_id(client: TestClient) -> None:
    """/healthz and /readyz need no key; each response carries X-Request-ID; a tame client id is kept."""
    assert client.get("/healthz").json() == {"status": "alive"}
    assert client.get("/readyz").json()["status"] == "ready"
    ids = {client.get(p).headers["x-request-id"] for p in ("/healthz", "/readyz", "/", "/nope", "/openapi.json")}
    assert len(ids) == 5
    assert client.get("/healthz", headers={"X-Request-ID": "trace-42"}).headers["x-request-id"] == "trace-42"
    assert client.get("/healthz", headers={"X-Request-ID": "bad id;<x>"}).headers["x-request-id"] != "bad id;<x>"


# --- validation ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signals_with(names: list[str]):
    """Every posted signal at 1.0 but ``changes`` (a DROP value leaves the signal out)."""

    def make(**changes) -> dict:
        values = {**{name: 1.0 for name in names}, **changes}
        return {k: v for k, v in values.items() if v is not DROP}

    return make


@pytest.mark.parametrize(
    "changes,field",
    [
        ({"nps": DROP}, "accounts[0].signals.nps"),  # missing signal
        ({"nps": "12"}, "accounts[0].signals.nps"),  # string for a number
        ({"nps": [1]}, "accounts[0].signals.nps"),  # list for a scalar
        ({"nps": True}, "accounts[0].signals.nps"),  # boolean for a number
        ({"nps": "NaN"}, "accounts[0].signals.nps"),
        ({"email": "a@b.c"}, "accounts[0].signals.email"),  # unknown field (and no PII)
        ({"licence_utilisation": 1.5}, "accounts[0].signals.licence_utilisation"),  # out of range
        ({"active_users_30d": -1}, "accounts[0].signals.active_users_30d"),
        ({"support_csat": 9}, "accounts[0].signals.support_csat"),
    ],
)
def test_bad_signals_get_422_naming_the_field(client: TestClient, signals_with, changes: dict, field: str) -> None:
    signals = signals_with(**changes)
    r = client.post("/v1/score", headers=AUTH, json={"accounts": [{"account_id": "a", "signals": signals}]})
    body = assert_error(r, 422)
    assert field in [d["field"] for d in body["details"]] and body["message"].startswith(field)


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e309", "-1e309"])
def test_non_finite_numbers_get_422(client: TestClient, names: list[str], token: str) -> None:
    """NaN, Infinity and numbers that overflow to infinity are refused, never scored."""
    text = f'{{"accounts": [{{"account_id": "a", "signals": {{{", ".join(f"{chr(34)}{n}{chr(34)}: 1" for n in names[1:])}, "{names[0]}": {token}}}}}]}}'
    r = client.post("/v1/score", headers={**AUTH, "Content-Type": "application/json"}, content=text)
    assert f"accounts[0].signals.{names[0]}" in [d["field"] for d in assert_error(r, 422)["details"]]


@pytest.mark.parametrize(
    "body,field",
    [  # each body is made from a valid set of signals, ``s``
        (lambda s: {"accounts": [{"account_id": "a", "signals": s, "name": "Acme"}]}, "accounts[0].name"),
        (lambda s: {"accounts": [{"account_id": 123, "signals": s}]}, "accounts[0].account_id"),
        (lambda s: {"accounts": [{"account_id": "", "signals": s}]}, "accounts[0].account_id"),
        (lambda s: {"accounts": [{"account_id": "a" * 257, "signals": s}]}, "accounts[0].account_id"),
        (lambda s: {"accounts": [{"account_id": "a\nb", "signals": s}]}, "accounts[0].account_id"),
        (lambda s: {"accounts": [{"account_id": "a", "as_of": "9999-01-01", "signals": s}]}, "accounts[0].as_of"),
        (lambda s: {"accounts": []}, "accounts"),
        (lambda s: {"accounts": [{"account_id": f"a{i}", "signals": s} for i in range(MAX_BATCH + 1)]}, "accounts"),
        (lambda s: {"account_ids": ["a"] * (MAX_BATCH + 1)}, "account_ids"),
        (lambda s: {"account_ids": ["a"], "accounts": []}, "account_ids"),
        (lambda s: {}, "accounts"),
    ],
)
def test_bad_bodies_get_422_naming_the_field(client: TestClient, signals_with, body, field: str) -> None:
    r = client.post("/v1/score", headers=AUTH, json=body(signals_with()))
    assert field in [d["field"] for d in assert_error(r, 422)["details"]]


@pytest.mark.parametrize(
    "query,field",
    [
        ("band=purple", "band"),
        ("page=0", "page"),
        ("page_size=201", "page_size"),
        ("page=1.5", "page"),
        ("lang=fr", "lang"),
        ("owner=", "owner"),
    ],
)
def test_bad_query_parameters_get_422(client: TestClient, query: str, field: str) -> None:
    body = assert_error(client.get(f"/v1/risk-list?{query}", headers=AUTH), 422)
    assert field in [d["field"] for d in body["details"]]


def test_exactly_max_batch_is_accepted(client: TestClient, signals_with) -> None:
    accounts = [{"account_id": f"a{i}", "signals": signals_with()} for i in range(MAX_BATCH)]
    r = client.post("/v1/score", headers=AUTH, json={"accounts": accounts})
    assert r.status_code == 200 and len(r.json()["results"]) == MAX_BATCH


def test_ids_are_echoed_byte_identical(client: TestClient, signals_with) -> None:
    """Leading zeros, big integers, 256 characters, emoji, RTL and zero-width joiners stay as sent (no normalization)."""
    for account_id in (
        "00123",
        "9007199254740993",
        "x" * 256,
        "caf\u00e9",
        "cafe\u0301",
        "\U0001f600",
        "\u05e9\u05dc\u05d5\u05dd",
        "a\u200db",
    ):
        assert one(client, signals_with(), account_id)["account_id"] == account_id


def test_int_float_and_order_do_not_change_the_score(client: TestClient, signals_with) -> None:
    """3 and 3.0 score the same; shuffled signal order scores the same; null means missing, as in batch."""
    base = one(client, signals_with(open_tickets=3.0))
    assert one(client, signals_with(open_tickets=3)) == base
    shuffled = list(signals_with(open_tickets=3.0).items())
    random.Random(0).shuffle(shuffled)
    assert one(client, dict(shuffled)) == base
    missing = one(client, signals_with(open_tickets=None))
    assert missing["account_id"] == base["account_id"] and 0 <= missing["churn_probability"] <= 1


def test_unknown_account_is_404(client: TestClient) -> None:
    assert_error(client.get("/v1/accounts/no-such-account", headers=AUTH), 404)
    body = assert_error(client.post("/v1/score", headers=AUTH, json={"account_ids": ["no-such-account"]}), 404)
    assert "no-such-account" in body["message"]


def test_non_json_body_is_415_and_wrong_method_405(client: TestClient) -> None:
    assert_error(
        client.post("/v1/score", headers={**AUTH, "Content-Type": "text/plain"}, content=b'{"account_ids":["a"]}'), 415
    )
    r = client.put("/v1/score", headers=AUTH, json={})
    assert_error(r, 405)
    assert r.headers["allow"] == "POST"


def test_response_models_document_what_is_sent(client: TestClient, batch: pd.DataFrame) -> None:
    """Account responses validate against the published response models."""
    account_id = batch["account_id"].iloc[0]
    AccountScore.model_validate(strict_json(client.get(f"/v1/accounts/{account_id}?lang=tr", headers=AUTH).text))


def test_a_scores_file_is_served_as_written(
    paths: tuple[Path, Path], batch: pd.DataFrame, dataset: Dataset, as_of: pd.Timestamp, tmp_path: Path
) -> None:
    """--scores serves the rows of a `churn score` file (trend included), flags worded in the asked language."""
    from serving.outputs import write_scores

    scores_file = write_scores(batch, tmp_path / "scores.parquet")
    app = loaded_app(model_dir=paths[1], scores_file=scores_file, scorer_processes=0)
    turkish = score_dataset(dataset, Scorer.load(paths[1]), as_of, lang="tr").set_index("account_id")
    with TestClient(app) as c:
        body = strict_json(c.get("/v1/risk-list?page_size=200&lang=tr", headers=AUTH).text)
    assert body["total"] == len(batch)
    for api in body["items"]:
        row = batch.set_index("account_id").loc[api["account_id"]].copy()
        row["red_flags"], row["green_flags"] = turkish.loc[api["account_id"], ["red_flags", "green_flags"]]
        assert_same_score(api, row)
