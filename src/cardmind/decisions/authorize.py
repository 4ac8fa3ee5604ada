"""Real-time authorization: one decision per authorization (fraud shield + smart credit).

Public surface (used by the HTTP API):

- ``AuthorizationEngine(config=EngineConfig(...), model=..., features=..., accounts=...)``
- ``engine.decide(request) -> Decision``: idempotent on ``auth_id``.
- ``engine.get_decision(auth_id) -> Decision | None``
- ``engine.add_label(label) -> None``: fraud report, chargeback or confirmed genuine.
- ``engine.lists``: block/trust lists (``add``, ``remove``, ``entries``, ``lookup``), persisted.
- ``engine.rules``: rule set in force (``info``, ``text``, ``validate``, ``load``, ``reload``).
- ``engine.health() -> dict``; ``engine.close()`` flushes the decision log.

NOTE: skeleton committed first so the API can be built in parallel; implementation follows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cardmind.decisions.types import AuthorizationRequest, Decision, Label


@dataclass(frozen=True, kw_only=True)
class EngineConfig:
    """Settings of the engine; every field has a safe default.

    - ``db_url``: decision log, lists and temp-credit grants (default: the configured database).
    - ``rules_path``: YAML rule file (default: the packaged ``rules/default.yaml``).
    - ``latency_budget_us``: beyond this, the model/feature path is abandoned for stand-in rules.
    - ``log_flush_ms`` / ``log_batch``: the decision log is written by a background thread at least
      every ``log_flush_ms`` milliseconds or every ``log_batch`` decisions.
    """

    db_url: str | None = None
    rules_path: Path | None = None
    latency_budget_us: int = 5_000
    log_flush_ms: int = 50
    log_batch: int = 512
    log_queue_max: int = 200_000
    watch_rules_s: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict)


class AuthorizationEngine:
    """Decides authorizations; see the module docstring for the public methods."""

    def __init__(
        self,
        config: EngineConfig | None = None,
        *,
        model: Any = "registry",
        features: Any = None,
        accounts: Any = None,
    ) -> None:
        self.config = config or EngineConfig()
        raise NotImplementedError("AuthorizationEngine: not yet supported (being implemented)")

    def decide(self, request: AuthorizationRequest) -> Decision:
        """Decide one authorization; a repeated ``auth_id`` returns the first decision unchanged."""
        raise NotImplementedError

    def get_decision(self, auth_id: str) -> Decision | None:
        """The decision taken for ``auth_id`` (memory, else the decision log), or None."""
        raise NotImplementedError

    def add_label(self, label: Label) -> None:
        """Record a fraud report / chargeback / genuine confirmation (unknown auth_id: InvalidInput)."""
        raise NotImplementedError

    @property
    def lists(self) -> Any:
        """Block/trust lists: ``add(ListEntry)``, ``remove(kind, value, list_type) -> bool``,
        ``entries(kind=None, list_type=None) -> list[ListEntry]``, ``lookup(kind, value)``."""
        raise NotImplementedError

    @property
    def rules(self) -> Any:
        """Rules in force: ``info -> RulesInfo``, ``text``, ``validate(text) -> RulesInfo``,
        ``load(text) -> RulesInfo`` (bad text: InvalidInput, previous set stays), ``reload()``."""
        raise NotImplementedError

    def health(self) -> dict[str, Any]:
        """Status for /healthz: model and rule versions, log queue depth, counters."""
        raise NotImplementedError

    def close(self) -> None:
        """Flush and stop the decision-log writer."""
        raise NotImplementedError
