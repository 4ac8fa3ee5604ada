"""Property-based tests generated from the OpenAPI spec (schemathesis), kept small and fast.

Every operation is called with generated valid and invalid inputs and an admin key; answers must
never be a server error and must match the documented status codes and response schemas.
"""

from __future__ import annotations

from datetime import date

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from tests.api.conftest import KEYS

from cardmind.api import create_app
from cardmind.api.routers.repayments import EXAMPLE_REPAYMENT
from cardmind.api.security import KeyStore, parse_env_keys
from cardmind.decisions.accounts import AccountBook, CardAccount
from cardmind.decisions.authorize import AuthorizationEngine, EngineConfig
from cardmind.settings import Settings


@pytest.fixture
def api_schema(cardmind_home):
    """The real engine (stand-in rules, no model; one account: the card of the documented
    examples, so that the example repayment is applied and its answer checked against the
    schema, every other card is unknown) and the app in this test's own CARDMIND_HOME (built per
    test, never at import: nothing touches the real ``~/.cardmind`` and parallel workers share no
    database)."""
    settings_ = Settings(home=cardmind_home)
    book = AccountBook()
    book.put(CardAccount(card_token=EXAMPLE_REPAYMENT["card_token"], customer_id="u1",
                         limit_fen=2_000_000, balance_fen=1_000_000, opened_at=date(2021, 1, 1)))
    engine = AuthorizationEngine(EngineConfig(db_url=settings_.db_url_resolved()), model=None,
                                 accounts=book)
    app = create_app(
        engine=engine,
        settings=settings_,
        keys=KeyStore(env_keys=parse_env_keys(f"{KEYS['admin']}:admin")),
    )
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    engine.close()


schema = schemathesis.pytest.from_fixture("api_schema")

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi_spec(case):
    response = case.call_and_validate(headers={"X-API-Key": KEYS["admin"]}, checks=CHECKS)
    sent = response.request
    if (case.operation.path == "/v1/repayments" and sent.method == "POST"
            and case.body == EXAMPLE_REPAYMENT and sent.headers.get("X-API-Key") == KEYS["admin"]
            and "json" in sent.headers.get("Content-Type", "")):
        # the explicit phase sends the documented example: applied, its answer validated
        assert response.status_code == 200, response.text
