"""Fixtures of the HTTP API tests: keys per role and an app over an in-memory test engine.

``FakeEngine`` implements the engine interface the API relies on (decide, get_decision, add_label,
repay, lists, rules, health, close) with trivial in-memory logic. It lives in the tests only; the real
engine is ``cardmind.decisions.AuthorizationEngine``.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from cardmind.api import create_app
from cardmind.api.security import KeyStore, parse_env_keys
from cardmind.decisions.types import (
    Decision,
    Label,
    ListEntry,
    Reason,
    RepaymentRequest,
    RepaymentResult,
    RulesInfo,
)
from cardmind.errors import InvalidInput
from cardmind.units import TZ

KEYS = {
    "scoring": "test-scoring-key-0123456789",
    "analyst": "test-analyst-key-0123456789",
    "admin": "test-admin-key-0123456789abc",
}
KNOWN_CARD = "c" * 32
PAN = "6222021234567894"  # Luhn-valid test card number

GOOD_REQUEST: dict[str, Any] = {
    "auth_id": "A1",
    "card_token": KNOWN_CARD,
    "pan_last4": "7894",
    "merchant_id": "M1",
    "terminal_id": "T1",
    "ts": "2026-03-01T12:00:00+08:00",
    "amount_fen": 12_345,
    "mcc": "5411",
    "channel": "pos_chip",
    "city": "Shanghai",
}

GOOD_REPAYMENT: dict[str, Any] = {
    "repayment_id": "R1",
    "card_token": KNOWN_CARD,
    "ts": "2026-03-05T09:30:00+08:00",
    "amount_fen": 50_000,
    "channel": "mobile_banking",
}

RULES_TEXT = "version: '1'\nrules:\n  - name: big_amount\n    when: amount_fen > 1000000\n    action: CHALLENGE\n"


class FakeLists:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str, str], ListEntry] = {}

    def add(self, entry: ListEntry) -> None:
        self.items[(entry.list_type, entry.kind, entry.value)] = entry

    def remove(self, kind: str, value: str, list_type: str) -> bool:
        return self.items.pop((list_type, kind, value), None) is not None

    def entries(self, kind: str | None = None, list_type: str | None = None) -> list[ListEntry]:
        return [
            e
            for e in self.items.values()
            if (kind is None or e.kind == kind) and (list_type is None or e.list_type == list_type)
        ]

    def lookup(self, kind: str, value: str) -> str | None:
        for lt, k, v in self.items:
            if k == kind and v == value:
                return lt
        return None


class FakeRules:
    def __init__(self) -> None:
        self.text = RULES_TEXT
        self.info = self.validate(RULES_TEXT)

    def validate(self, text: str) -> RulesInfo:
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError:
            raise InvalidInput("rules: not valid YAML") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("rules"), list):
            raise InvalidInput("rules: expected a mapping with a 'rules' list")
        names = [str(r.get("name")) for r in doc["rules"] if isinstance(r, dict)]
        return RulesInfo(
            version=str(doc.get("version", "0")),
            checksum=hashlib.sha256(text.encode()).hexdigest()[:16],
            rules=names,
            source="api",
            loaded_at=datetime.now(TZ),
        )

    def load(self, text: str, *, source: str = "<api>") -> RulesInfo:
        info = self.validate(text).model_copy(update={"source": source})
        self.text, self.info = text, info
        return info


class FakeEngine:
    """In-memory stand-in for AuthorizationEngine (tests only)."""

    def __init__(self) -> None:
        self.decisions: dict[str, Decision] = {}
        self.labels: list[Label] = []
        self.lists = FakeLists()
        self.rules = FakeRules()
        self.calls = 0
        self.closed = False
        self.fail_with: Exception | None = None

    def decide(self, request: Any) -> Decision:
        self.calls += 1
        if self.fail_with is not None:
            raise self.fail_with
        if request.auth_id in self.decisions:
            return self.decisions[request.auth_id]
        if request.card_token != KNOWN_CARD:
            action, code, reasons = (
                "DECLINE",
                "14",
                [Reason(code="UNKNOWN_CARD", en="Unknown card", zh="未知卡片")],
            )
        elif self.lists.lookup("merchant", request.merchant_id) == "block":
            action, code, reasons = (
                "DECLINE",
                "05",
                [Reason(code="LIST_BLOCK_MERCHANT", en="b", zh="b")],
            )
        elif request.amount_fen > 1_000_000:
            action, code, reasons = "CHALLENGE", "1A", []
        else:
            action, code, reasons = "APPROVE", "00", []
        decision = Decision(
            auth_id=request.auth_id,
            action=action,
            response_code=code,
            reasons=reasons,
            rules_version=self.rules.info.version,
            standin=request.city == "StandIn",
            latency_us=150,
            decided_at=datetime.now(TZ),
        )
        self.decisions[request.auth_id] = decision
        return decision

    def get_decision(self, auth_id: str) -> Decision | None:
        return self.decisions.get(auth_id)

    def explain_decision(self, auth_id: str, top: int = 3) -> list[Any] | None:
        if auth_id not in self.decisions:
            return None
        from cardmind.models.explain import Reason as Factor

        return [Factor.build(feature="card_count_1h", value=9.0, reference=1.0,
                             contribution=0.8)][:top]

    def add_label(self, label: Label) -> None:
        if label.auth_id not in self.decisions:
            raise InvalidInput(f"label: unknown auth_id {label.auth_id!r}")
        self.labels.append(label)

    def repay(self, request: RepaymentRequest) -> RepaymentResult:
        if request.card_token != KNOWN_CARD:
            raise InvalidInput(f"repayment: unknown card token {request.card_token!r}")
        return RepaymentResult(
            repayment_id=request.repayment_id, card_token=request.card_token,
            amount_fen=request.amount_fen, balance_fen=0, available_credit_before_fen=0,
            available_credit_fen=request.amount_fen, received_at=datetime.now(TZ))

    def health(self) -> dict[str, Any]:
        return {"status": "ok", "rules_version": self.rules.info.version, "secret": "x"}

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def keystore() -> KeyStore:
    return KeyStore(env_keys=parse_env_keys(",".join(f"{k}:{r}" for r, k in KEYS.items())))


@pytest.fixture
def app(engine, keystore):
    return create_app(engine=engine, keys=keystore)


@pytest.fixture
def client(app) -> TestClient:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def headers(role: str) -> dict[str, str]:
    """The X-API-Key header of a role."""
    return {"X-API-Key": KEYS[role]}
