"""Schemathesis against the app's own OpenAPI: positive and negative cases, every check, no 5xx.

Runs through the ASGI app in-process (no network) with the API key configured for the
``bearerAuth`` scheme, so the ``ignored_auth`` check also proves that each /v1 route refuses
requests without it. The OpenAPI document does not depend on the model, so the schema is
read at import from an app whose service is swapped for a loaded one (a small trained
model) before the first case runs. Examples per operation are bounded to keep the run short.
"""

from __future__ import annotations

import pytest
import schemathesis
from api_support import KEY, loaded_app, make_world_and_model
from schemathesis.config import SchemathesisConfig

from serving.app import create_app
from serving.settings import Settings

EXAMPLES = 200  # per operation (positive and negative cases together)

app = create_app(Settings(model_dir="unloaded", data_dir="unloaded", api_key=KEY))
config = SchemathesisConfig.from_dict(
    {
        "seed": 7,
        "generation": {"mode": "all", "max-examples": EXAMPLES},
        "auth": {"openapi": {"bearerAuth": {"bearer": KEY}}},
        "checks": {"max_response_time": 1.0},
    }
)
schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)


@pytest.fixture(scope="module", autouse=True)
def _loaded(tmp_path_factory: pytest.TempPathFactory) -> None:
    world, model = make_world_and_model(tmp_path_factory.mktemp("schemathesis"))
    app.state.service = loaded_app(model_dir=model, data_dir=world).state.service


@schema.parametrize()
def test_api_conforms_to_its_openapi(case) -> None:
    """Every generated request gets a documented status, schema-valid body and headers, and never a 5xx."""
    response = case.call_and_validate()
    assert response.status_code < 500, response.text
