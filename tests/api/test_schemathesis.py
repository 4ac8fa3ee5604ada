"""Property-based tests generated from the OpenAPI spec (schemathesis), kept small and fast.

Every operation is called with generated valid and invalid inputs and an admin key; answers must
never be a server error and must match the documented status codes and response schemas.
"""

from __future__ import annotations

import tempfile

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
from cardmind.api.security import KeyStore, parse_env_keys
from cardmind.decisions.authorize import AuthorizationEngine, EngineConfig

# The real engine (stand-in rules, no model, no accounts: every card is unknown) in a temp folder.
_engine = AuthorizationEngine(
    EngineConfig(db_url=f"sqlite:///{tempfile.mkdtemp(prefix='cm-st-')}/cm.db"), model=None
)
app = create_app(engine=_engine, keys=KeyStore(env_keys=parse_env_keys(f"{KEYS['admin']}:admin")))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi_spec(case):
    case.call_and_validate(headers={"X-API-Key": KEYS["admin"]}, checks=CHECKS)
