"""Cash-out risk for authorization: a per-card score with reasons, and the advised action.

The detector runs in batch (per card-cycle); authorization reads the result in microseconds
through :meth:`CashoutRiskTable.cashout_risk`. Cash-out is kept distinct from fraud: its reason
codes are ``CASHOUT_RISK`` and ``CASHOUT_NO_TEMP_CREDIT`` (see ``cardmind.decisions.reasons``) and
its advice is one of ``none``, ``no_temp_credit``, ``challenge``, ``decline``:

| card level | merchant on the suspect list | advice |
|---|---|---|
| high | yes | decline |
| high | no | challenge (and never temporary credit) |
| watch | yes | challenge |
| watch | no | no_temp_credit |
| none | yes | no_temp_credit (the merchant alone does not bother the customer) |
| none | no | none |

>>> t = CashoutRiskTable.from_rows([{"card_token": "c1", "score": 0.97, "alert": True,
...     "cycle_end": "2026-03-15", "rules": ["third_party_repay_then_cycle"]}], threshold=0.8)
>>> r = t.cashout_risk("c1")
>>> r.level, r.reason_codes, r.advice(suspect_merchant=True)
('high', ('CASHOUT_RISK', 'CASHOUT_NO_TEMP_CREDIT'), 'decline')
>>> t.cashout_risk("unknown").level
'none'

The authorization engine (``cardmind.decisions.AuthorizationEngine``) takes a ``cashout`` callable
``(event, features) -> score``; :meth:`CashoutRiskTable.engine_hook` is that callable. It maps the
advice onto the engine score scale of the default rules (``cashout_score`` >= 0.9 decline, >= 0.7
challenge, >= 0.4 no temporary credit):

>>> hook = t.engine_hook(suspect_merchants={"m9"})
>>> hook({"card_token": "c1", "merchant_id": "m9"}, {}), hook({"card_token": "c1", "merchant_id": "m1"}, {})
(0.95, 0.8)
>>> hook({"card_token": "other", "merchant_id": "m9"}, {}), hook({"card_token": "other", "merchant_id": "m1"}, {})
(0.5, 0.0)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from cardmind.errors import InvalidInput
from cardmind.models.cashout.rules import DEFAULT_RULES, Rule

ADVICE = ("none", "no_temp_credit", "challenge", "decline")

#: Engine score per advice, on the scale of the default authorization rules (decisions/rules).
ENGINE_SCORE = {"decline": 0.95, "challenge": 0.8, "no_temp_credit": 0.5, "none": 0.0}


@dataclass(frozen=True, kw_only=True)
class CashoutRisk:
    """The cash-out risk of one card: score in [0, 1], level, reasons (English and Chinese)."""

    card_token: str
    score: float
    level: str
    reasons: tuple[dict[str, str], ...]
    cycle_end: str | None = None

    @property
    def reason_codes(self) -> tuple[str, ...]:
        if self.level == "high":
            return ("CASHOUT_RISK", "CASHOUT_NO_TEMP_CREDIT")
        if self.level == "watch":
            return ("CASHOUT_NO_TEMP_CREDIT",)
        return ()

    def advice(self, *, suspect_merchant: bool = False) -> str:
        """``none``, ``no_temp_credit``, ``challenge`` or ``decline`` (table in the module doc)."""
        if self.level == "high":
            return "decline" if suspect_merchant else "challenge"
        if self.level == "watch":
            return "challenge" if suspect_merchant else "no_temp_credit"
        return "no_temp_credit" if suspect_merchant else "none"


class CashoutRiskTable:
    """Latest cash-out risk per card, looked up by card token (a dict in memory)."""

    def __init__(self, risks: dict[str, CashoutRisk], *, threshold: float) -> None:
        self.risks = risks
        self.threshold = threshold

    @classmethod
    def from_rows(
        cls,
        rows: list[dict[str, Any]],
        *,
        threshold: float,
        rules: tuple[Rule, ...] = DEFAULT_RULES,
        watch_fraction: float = 0.5,
    ) -> CashoutRiskTable:
        """From per-cycle summary rows (``card_token, cycle_end, score, alert, rules``): each card
        keeps the riskiest of its card-cycles; ``watch`` when the score reaches
        ``watch_fraction * threshold`` without an alert."""
        if not 0 < watch_fraction <= 1:
            raise ValueError(f"watch_fraction must be in (0, 1], got {watch_fraction}")
        text = {r.name: (r.reason_en, r.reason_zh) for r in rules}
        best: dict[str, dict[str, Any]] = {}
        for row in rows:
            key = row["card_token"]
            rank = (bool(row["alert"]), float(row["score"]), str(row["cycle_end"]))
            if key not in best or rank > best[key]["_rank"]:
                best[key] = {**row, "_rank": rank}
        risks = {}
        for token, row in best.items():
            score = float(row["score"])
            level = (
                "high"
                if row["alert"]
                else "watch"
                if score >= watch_fraction * threshold
                else "none"
            )
            reasons = [
                {"code": f"CASHOUT_RULE_{name}", "en": text[name][0], "zh": text[name][1]}
                for name in (row.get("rules") or [])
                if name in text
            ]
            if level != "none" and not reasons:
                reasons.append(
                    {
                        "code": "CASHOUT_MODEL",
                        "en": f"cash-out model score {score:.2f}",
                        "zh": f"套现模型评分 {score:.2f}",
                    }
                )
            risks[token] = CashoutRisk(
                card_token=token,
                score=score,
                level=level,
                reasons=tuple(reasons),
                cycle_end=str(row["cycle_end"]),
            )
        return cls(risks, threshold=threshold)

    def cashout_risk(self, card_token: str) -> CashoutRisk:
        """The card's cash-out risk; an unknown card has level ``none`` and score 0."""
        found = self.risks.get(card_token)
        if found is not None:
            return found
        return CashoutRisk(card_token=card_token, score=0.0, level="none", reasons=())

    def engine_hook(
        self, *, suspect_merchants: set[str] | frozenset[str] = frozenset()
    ) -> Callable[[dict[str, Any], Mapping[str, float]], float]:
        """The ``cashout`` callable of the authorization engine: event -> engine score.

        ``suspect_merchants`` is the suspect-merchant list (e.g. the ``value`` of
        :meth:`RingReport.suspect_list` entries). Lookups are two dict/set probes.
        """
        merchants = frozenset(suspect_merchants)

        def hook(event: dict[str, Any], features: Mapping[str, float]) -> float:
            risk = self.cashout_risk(event.get("card_token") or "")
            at_suspect = event.get("merchant_id") in merchants
            return ENGINE_SCORE[risk.advice(suspect_merchant=at_suspect)]

        return hook

    def __len__(self) -> int:
        return len(self.risks)

    def to_table(self) -> pa.Table:
        rs = list(self.risks.values())
        return pa.table(
            {
                "card_token": [r.card_token for r in rs],
                "score": pa.array([r.score for r in rs], pa.float64()),
                "level": [r.level for r in rs],
                "cycle_end": [r.cycle_end for r in rs],
                "reasons": [json.dumps(list(r.reasons), ensure_ascii=False) for r in rs],
            }
        )

    def save(self, path: str | Path) -> None:
        """Parquet with the threshold in the file metadata."""
        table = self.to_table()
        table = table.replace_schema_metadata({"threshold": str(self.threshold)})
        pq.write_table(table, path)

    @classmethod
    def load(cls, path: str | Path) -> CashoutRiskTable:
        try:
            table = pq.read_table(path)
        except (OSError, pa.ArrowInvalid) as exc:
            raise InvalidInput(f"{path}: not a cash-out risk table ({exc})") from exc
        meta = table.schema.metadata or {}
        if b"threshold" not in meta:
            raise InvalidInput(f"{path}: not a cash-out risk table (no threshold)")
        risks = {
            r["card_token"]: CashoutRisk(
                card_token=r["card_token"],
                score=r["score"],
                level=r["level"],
                reasons=tuple(json.loads(r["reasons"])),
                cycle_end=r["cycle_end"],
            )
            for r in table.to_pylist()
        }
        return cls(risks, threshold=float(meta[b"threshold"]))
