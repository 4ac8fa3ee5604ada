"""Customer value tiers from editable YAML rules (ZEN expressions, never Python ``eval``).

Tiers are checked in file order; the first rule that matches names the tier. All rules are compiled
into one ZEN expression returning the list of matches, so a customer costs one evaluator call.

>>> rules = parse_tiers('''
... version: t
... tiers:
...   - {name: risky, when: "max_dpd >= 30"}
...   - {name: quality, when: "value_percentile >= 0.8"}
...   - {name: ordinary, when: "true"}
... ''')
>>> import pandas as pd
>>> ctx = pd.DataFrame({"max_dpd": [0, 45, 0], "value_percentile": [0.9, 0.9, 0.1]})
>>> list(rules.assign(ctx))
['quality', 'risky', 'ordinary']
>>> try:
...     parse_tiers("tiers: [{name: x, when: 'value_pct > 1'}]")
... except InvalidInput as e:
...     print(e)
tiers: tier 'x': unknown name 'value_pct' (known: purchases_per_month, spend_per_month_yuan, active_days_per_month, category_breadth, value_yuan, value_percentile, max_dpd, on_time_share, active_months, months, installment_plans)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
import zen

from cardmind.decisions.rules import _names  # the rule engine's name scanner
from cardmind.errors import InvalidInput

DEFAULT_PATH = Path(__file__).with_name("tiers.yaml")
FIELDS = ("purchases_per_month", "spend_per_month_yuan", "active_days_per_month", "category_breadth",
          "value_yuan", "value_percentile", "max_dpd", "on_time_share", "active_months", "months",
          "installment_plans")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True, kw_only=True)
class Tier:
    """One tier rule."""

    name: str
    when: str
    label: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"tier name must be snake_case, got {self.name!r}")


@dataclass(frozen=True)
class TierRules:
    """Parsed tier rules; :meth:`assign` tiers a whole population."""

    version: str
    tiers: tuple[Tier, ...]
    program: object
    used: tuple[str, ...] = FIELDS

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.tiers]

    def assign(self, context: pd.DataFrame) -> np.ndarray:
        """The tier of every row of ``context`` (columns: the names the rules use).

        Rows are deduplicated first (tiers depend on a few rounded fields, so populations repeat),
        then each distinct row costs one evaluator call. A row that no rule matches is an error.
        """
        absent = [c for c in self.used if c not in context.columns]
        if absent:
            raise InvalidInput(f"tiers: the context lacks {absent}")
        cols = list(self.used)
        frame = context[cols].astype(float)
        uniq, inverse = np.unique(frame.to_numpy(), axis=0, return_inverse=True)
        names = np.array(self.names, dtype=object)
        result = np.empty(len(uniq), dtype=object)
        for i, row in enumerate(uniq):
            hits = self.program.evaluate(dict(zip(cols, row.tolist(), strict=True)))
            try:
                result[i] = names[hits.index(True)]
            except ValueError:
                raise InvalidInput(f"tiers: no tier matches {dict(zip(cols, row.tolist(), strict=True))}; "
                                   "end the file with a catch-all tier (when: \"true\")") from None
        return result[inverse.ravel()]


def parse_tiers(text: str, *, source: str = "tiers") -> TierRules:
    """Parse and validate tier rules (names checked, syntax checked, compiled once)."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("tiers"), list) or not raw["tiers"]:
        raise InvalidInput(f"{source}: expected a mapping with a non-empty 'tiers' list")
    tiers, used = [], set()
    for item in raw["tiers"]:
        if not isinstance(item, dict) or not isinstance(item.get("when"), str):
            raise InvalidInput(f"{source}: each tier needs 'name' and a 'when' expression")
        label = f"tier {item.get('name')!r}"
        unknown = set(item) - {"name", "when", "label", "description"}
        if unknown:
            raise InvalidInput(f"{source}: {label}: unknown keys {sorted(unknown)}")
        for name in _names(item["when"]):
            if name not in FIELDS:
                raise InvalidInput(f"{source}: {label}: unknown name {name!r} (known: {', '.join(FIELDS)})")
            used.add(name)
        check = zen.validate_expression(item["when"])
        if check:
            raise InvalidInput(f"{source}: {label}: syntax error: {check.get('source', check)}")
        try:
            tiers.append(Tier(name=str(item.get("name")), when=item["when"],
                              label=str(item.get("label", "")), description=str(item.get("description", ""))))
        except ValueError as exc:
            raise InvalidInput(f"{source}: {exc}") from None
    if len({t.name for t in tiers}) != len(tiers):
        raise InvalidInput(f"{source}: tier names must be unique")
    sample = dict.fromkeys(FIELDS, 1.0)
    for t in tiers:
        value = zen.evaluate_expression(t.when, sample)
        if not isinstance(value, bool):
            raise InvalidInput(f"{source}: tier {t.name!r}: must be true or false, got {type(value).__name__}")
    program = zen.compile_expression("[" + ", ".join(f"({t.when})" for t in tiers) + "]")
    return TierRules(version=str(raw.get("version", "")), tiers=tuple(tiers), program=program,
                     used=tuple(f for f in FIELDS if f in used))


def load_tiers(path: str | Path | None = None) -> TierRules:
    """Tier rules from ``path`` (the packaged ``tiers.yaml`` when None)."""
    p = Path(path or DEFAULT_PATH)
    try:
        text = p.read_text()
    except OSError as exc:
        raise InvalidInput(f"{p}: cannot read tier rules: {exc}") from None
    return parse_tiers(text, source=str(p))


def tier_context(metrics, months: list, value_fen: pd.Series) -> pd.DataFrame:
    """The names the tier rules use, per customer, over ``months`` with a value per customer (fen)."""
    w = metrics.table[metrics.table["month"].isin(months)]
    g = w.groupby("customer_id", sort=True)
    n = len(months)
    s = g[["purchases", "spend_fen", "active_days", "statements", "on_time", "installment_plans"]].sum()
    ctx = pd.DataFrame(index=s.index)
    ctx["purchases_per_month"] = np.floor(s["purchases"] / n)
    ctx["spend_per_month_yuan"] = np.round(s["spend_fen"] / n / 100, -1)
    ctx["active_days_per_month"] = np.floor(s["active_days"] / n)
    ctx["category_breadth"] = g["category_breadth"].max()
    value = value_fen.reindex(s.index).fillna(0)
    ctx["value_yuan"] = np.round(value / 100, -1)
    ctx["value_percentile"] = np.round(value.rank(pct=True), 2)
    ctx["max_dpd"] = g["max_dpd"].max()
    ctx["on_time_share"] = np.where(s["statements"] > 0, np.round(s["on_time"] / s["statements"].clip(lower=1), 2), 1.0)
    ctx["active_months"] = (w["purchases"] > 0).groupby(w["customer_id"], sort=True).sum()
    ctx["months"] = n
    ctx["installment_plans"] = s["installment_plans"]
    return ctx


def assign_population(metrics, cfg, rules: TierRules) -> pd.DataFrame:
    """Tier every customer on the realised profit of all observed months (customer_id, tier, value)."""
    from cardmind.models.value.profit import realised_profit

    value = realised_profit(metrics.table, metrics.cards, metrics.months, cfg).set_index("customer_id")["profit_fen"]
    ctx = tier_context(metrics, metrics.months, value)
    out = ctx.reset_index()
    out.insert(1, "tier", rules.assign(ctx))
    out.insert(2, "value_fen", value.reindex(ctx.index).to_numpy().round().astype("int64"))
    return out
