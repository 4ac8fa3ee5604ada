"""Stand-in: declared fallback rules when the model, the feature store, the account state or the
latency budget fails.

The stand-in rules live in the ``standin`` section of the rule file; they see the request, the
lists and the account, never the fraud score or features. If even they fail, a last-resort
policy declared here decides: approve small card-present purchases (up to
``FLOOR_LIMIT_FEN``), answer ``91`` (issuer unavailable) to everything else.

>>> from cardmind.decisions.rules import RuleManager, sample_context
>>> rs = RuleManager().current
>>> ctx = sample_context(); ctx.update(fraud_score=None, features={}, amount_fen=6_000_000)
>>> v = standin_verdict(rs, ctx, cause="model")
>>> v.action, v.reasons[0], v.response_code
('DECLINE', 'STANDIN_MODEL', '05')
"""

from __future__ import annotations

from typing import Any

from cardmind.decisions.rules import RuleEvaluationError, RuleSet, Verdict, verdict

CAUSES: dict[str, str] = {
    "model": "STANDIN_MODEL",
    "features": "STANDIN_FEATURES",
    "latency": "STANDIN_LATENCY",
    "rules": "STANDIN_RULES",
    "account": "STANDIN_ACCOUNT",
}
#: Last resort when the stand-in rules themselves fail: approve below this, card present only.
FLOOR_LIMIT_FEN = 50_000


def standin_verdict(rules: RuleSet, ctx: dict[str, Any], *, cause: str) -> Verdict:
    """Decide with the stand-in rules; the first reason always names the cause."""
    code = CAUSES[cause]
    try:
        v = verdict(rules.evaluate_standin(ctx))
    except RuleEvaluationError:
        small = ctx["amount_fen"] <= FLOOR_LIMIT_FEN and ctx["channel"] != "online_cnp"
        return Verdict(
            action="APPROVE" if small else "DECLINE",
            response_code="00" if small else "91",
            reasons=(code, "STANDIN_RULES"),
            credit_veto=("TEMP_CREDIT_NOT_ELIGIBLE",),
            matched=("last_resort",),
        )
    return Verdict(action=v.action, response_code=v.response_code,
                   reasons=(code, *[r for r in v.reasons if r != code]),
                   credit_veto=v.credit_veto or ("TEMP_CREDIT_NOT_ELIGIBLE",), matched=v.matched)
