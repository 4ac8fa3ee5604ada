"""Decisions: policies that turn scores, features, rules and lists into actions with reasons.

Real-time authorization (fraud shield + smart credit) lives in :mod:`cardmind.decisions.authorize`;
its request/decision models in :mod:`cardmind.decisions.types`.
"""

from cardmind.decisions.types import (
    ACTIONS,
    LIST_KINDS,
    LIST_TYPES,
    RESPONSE_CODES,
    AuthorizationRequest,
    Decision,
    Label,
    ListEntry,
    Reason,
    RulesInfo,
)


def __getattr__(name: str):  # lazy: importing the package stays cheap
    if name in ("AuthorizationEngine", "EngineConfig"):
        from cardmind.decisions import authorize

        return getattr(authorize, name)
    raise AttributeError(f"module 'cardmind.decisions' has no attribute {name!r}")


__all__ = [
    "ACTIONS",
    "LIST_KINDS",
    "LIST_TYPES",
    "RESPONSE_CODES",
    "AuthorizationEngine",
    "AuthorizationRequest",
    "Decision",
    "EngineConfig",
    "Label",
    "ListEntry",
    "Reason",
    "RulesInfo",
]
