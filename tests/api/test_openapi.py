"""The OpenAPI document: every operation summarised, secured and with its error model."""

from __future__ import annotations

from cardmind.api import create_app
from cardmind.api.app import ROUTERS


def test_every_operation_is_documented():
    spec = create_app(build_engine=False).openapi()
    assert spec["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"
    assert "ErrorResponse" in spec["components"]["schemas"]
    ops = [(path, m, op) for path, item in spec["paths"].items() for m, op in item.items()]
    assert len(ops) >= 10
    for path, method, op in ops:
        assert op.get("summary"), (path, method)
        assert op.get("description"), (path, method)
        if path.startswith("/v1/"):
            assert op["security"] == [{"APIKeyHeader": []}], (path, method)
            for status in ("401", "403"):
                ref = op["responses"][status]["content"]["application/json"]["schema"]["$ref"]
                assert ref.endswith("/ErrorResponse"), (path, method, status)
        else:
            assert "security" not in op  # /healthz and /metrics are open


def test_request_examples_are_valid_requests():
    spec = create_app(build_engine=False).openapi()
    body = spec["paths"]["/v1/authorizations"]["post"]["requestBody"]["content"]["application/json"]
    example = body["examples"]["purchase"]["value"]
    from cardmind.decisions.types import AuthorizationRequest

    assert AuthorizationRequest.model_validate(example).amount_fen == example["amount_fen"]


def test_router_list_is_plain():
    assert ROUTERS[0] == "health" and len(set(ROUTERS)) == len(ROUTERS)
