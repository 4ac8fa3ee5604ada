"""The quality question: how many purchases a month make a quality customer?

Observation months (first half of the data) give each customer's purchases a month; outcome months
(second half) give the realised 12-month-annualised profit and the tier (``tiers.yaml``). For each
purchase count k: P(top tier | k) with a Wilson interval and expected value with a bootstrap
interval. The threshold is read from a monotone fit: P(top tier | k) is fitted non-decreasing in k
(weighted isotonic regression, "more purchases never make quality less likely"), with a 95 %
band from a parametric bootstrap of every bucket; the threshold is the smallest k (bucket of at
least ``min_n`` customers) whose band's lower bound is above the population's top-tier rate: from
there on a customer is reliably more likely than average to be a quality customer. Requiring every
raw bucket's Wilson bound to clear the rate (the first version) let one small noisy bucket in the
tail move the answer from 12 to 40 purchases. It is computed overall, by average-ticket level
(terciles) and by risk (any statement past due in the observation months).
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cardmind.models.value.config import ValueConfig, load_value_config
from cardmind.models.value.metrics import MonthlyMetrics
from cardmind.models.value.model import split_months
from cardmind.models.value.profit import realised_profit
from cardmind.models.value.tiers import TierRules, load_tiers, tier_context

MAX_K = 40


def wilson(successes: np.ndarray, n: np.ndarray, z: float = 1.96) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial proportion (vectorised).

    >>> lo, hi = wilson(np.array([5]), np.array([10]))
    >>> round(float(lo[0]), 3), round(float(hi[0]), 3)
    (0.237, 0.763)
    """
    n = np.asarray(n, float)
    p = np.divide(successes, n, out=np.zeros_like(n), where=n > 0)
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def by_purchases(frame: pd.DataFrame, *, top: str, n_boot: int = 200, seed: int = 0) -> pd.DataFrame:
    """Per purchase count k: n, P(top tier) with Wilson CI, mean value (yuan) with bootstrap CI."""
    rng = np.random.default_rng(seed)
    rows = []
    for k, g in frame.groupby("k", sort=True):
        n = len(g)
        hit = int((g["tier"] == top).sum())
        lo, hi = wilson(np.array([hit]), np.array([n]))
        v = g["value_yuan"].to_numpy()
        boot = v[rng.integers(0, n, size=(n_boot, n))].mean(axis=1)
        rows.append({"k": int(k), "n": n, "p_top": hit / n, "p_lo": float(lo[0]), "p_hi": float(hi[0]),
                     "value_mean": float(v.mean()), "value_lo": float(np.quantile(boot, 0.025)),
                     "value_hi": float(np.quantile(boot, 0.975))})
    out = pd.DataFrame(rows)
    if len(out):
        out["p_iso"], out["p_iso_lo"] = monotone_band(out["n"].to_numpy(), out["p_top"].to_numpy(), seed=seed)
    return out


def monotone_band(n: np.ndarray, p: np.ndarray, *, n_boot: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Non-decreasing fit of bucket rates ``p`` (weights ``n``) and its bootstrap 2.5 % lower bound.

    Each bootstrap redraws every bucket's successes as Binomial(n, p) and refits.

    >>> fit, lo = monotone_band(np.array([100, 100, 100]), np.array([0.1, 0.3, 0.2]))
    >>> fit.round(2).tolist(), bool((lo <= fit).all())
    ([0.1, 0.25, 0.25], True)
    """
    from sklearn.isotonic import IsotonicRegression

    x = np.arange(len(p), dtype=float)
    iso = IsotonicRegression(increasing=True)
    fit = iso.fit_transform(x, p, sample_weight=n)
    rng = np.random.default_rng(seed)
    draws = rng.binomial(np.broadcast_to(n, (n_boot, len(n))), np.broadcast_to(p, (n_boot, len(p)))) / n
    boots = np.array([iso.fit_transform(x, d, sample_weight=n) for d in draws])
    return fit, np.quantile(boots, 0.025, axis=0)


def threshold(table: pd.DataFrame, base_rate: float, *, min_n: int = 30) -> int | None:
    """Smallest k from which every bucket with ``min_n``+ customers has its lower bound above
    ``base_rate``; None when no such k exists. The lower bound is the monotone fit's band
    (``p_iso_lo``) when the table has it, else the bucket's own Wilson bound (``p_lo``).

    >>> t = pd.DataFrame({"k": [0, 1, 2, 3], "n": [100] * 4, "p_lo": [0.1, 0.3, 0.15, 0.4]})
    >>> threshold(t, 0.2)
    3
    """
    t = table[table["n"] >= min_n].sort_values("k")
    if t.empty:
        return None
    above = (t["p_iso_lo" if "p_iso_lo" in t else "p_lo"] > base_rate).to_numpy()
    if not above[-1]:
        return None
    tail = len(above) - np.argmin(above[::-1]) if not above.all() else 0
    return int(t["k"].iloc[tail])


@dataclass
class QualityStudy:
    """Everything the report shows (all computed)."""

    top: str
    base_rate: float
    overall: pd.DataFrame
    threshold: int | None
    segments: dict[str, tuple[int | None, float, int]]
    observation: list
    outcome: list
    missing: list[str] = field(default_factory=list)
    n_customers: int = 0

    def answer(self) -> tuple[str, str]:
        """The one-paragraph answer in English and Chinese."""
        obs = f"{len(self.observation)}"
        if self.threshold is None:
            en = (f"No purchase count makes a customer reliably more likely than average ({self.base_rate:.0%}) to be "
                  f"in the '{self.top}' tier in this data ({self.n_customers:,} customers).")
            zh = f"本数据（{self.n_customers:,} 位客户）中，没有任何月消费笔数能使客户稳定地高于平均水平（{self.base_rate:.0%}）成为优质客户。"
            return en, zh
        row = self.overall[self.overall["k"] >= self.threshold]
        p = float((row["p_top"] * row["n"]).sum() / row["n"].sum())
        seg_en, seg_zh = [], []
        for name, (k, _rate, _n) in self.segments.items():
            seg_en.append(f"{name}: {_k(k, 'not reached')}")
            seg_zh.append(f"{_ZH.get(name, name)}：{_k(k, '未达到')}")
        en = (f"{self.threshold} or more purchases a month, when measured over the first {obs} months, make a customer "
              f"reliably more likely than average to be a quality customer in the following months: {p:.0%} of them "
              f"reach the '{self.top}' tier against {self.base_rate:.0%} of all {self.n_customers:,} customers. "
              f"The threshold shifts with spend level and risk ({'; '.join(seg_en)}).")
        zh = (f"以前 {obs} 个月计，每月消费 {self.threshold} 笔及以上的客户在随后几个月成为优质客户的概率稳定高于平均："
              f"其中 {p:.0%} 进入优质层，而全部 {self.n_customers:,} 位客户中为 {self.base_rate:.0%}。"
              f"门槛随消费水平和风险而变化（{'；'.join(seg_zh)}）。")
        return en, zh


def _k(k: int | None, none: str) -> str:
    return none if k is None else f"{k}+" if k >= MAX_K else str(k)


_ZH = {"low ticket": "低客单价", "mid ticket": "中客单价", "high ticket": "高客单价",
       "no late payment": "无逾期", "some late payment": "有逾期"}


def study(metrics: MonthlyMetrics, *, cfg: ValueConfig | None = None, rules: TierRules | None = None,
          top: str = "quality", min_n: int = 30, n_boot: int = 200) -> QualityStudy:
    """Compute the quality study from monthly metrics."""
    cfg = cfg or load_value_config()
    rules = rules or load_tiers()
    if top not in rules.names:
        raise ValueError(f"top tier {top!r} is not in the tier rules {rules.names}")
    obs, out = split_months(metrics.months)
    value = realised_profit(metrics.table, metrics.cards, out, cfg).set_index("customer_id")["profit_fen"]
    ctx = tier_context(metrics, out, value)
    tier = pd.Series(rules.assign(ctx), index=ctx.index)
    w = metrics.table[metrics.table["month"].isin(obs)].groupby("customer_id")
    purchases = w["purchases"].sum()
    ticket = (w["spend_fen"].sum() / purchases.clip(lower=1)).where(purchases > 0)
    late = w["max_dpd"].max() > 0
    frame = pd.DataFrame({"k": np.floor(purchases / len(obs)).clip(upper=MAX_K).astype(int),
                          "tier": tier.reindex(purchases.index), "value_yuan": value.reindex(purchases.index) / 100,
                          "late": late, "ticket": ticket})
    base = float((frame["tier"] == top).mean())
    overall = by_purchases(frame, top=top, n_boot=n_boot)
    segments: dict[str, tuple[int | None, float, int]] = {}
    active = frame[frame["ticket"].notna()]
    if len(active) >= 3 * min_n:
        levels = pd.qcut(active["ticket"], 3, labels=["low ticket", "mid ticket", "high ticket"])
        for name in ("low ticket", "mid ticket", "high ticket"):
            g = active[levels == name]
            segments[name] = (threshold(by_purchases(g, top=top, n_boot=20), base, min_n=min_n),
                              float((g["tier"] == top).mean()), len(g))
    for name, mask in (("no late payment", ~frame["late"]), ("some late payment", frame["late"])):
        g = frame[mask]
        if len(g):
            segments[name] = (threshold(by_purchases(g, top=top, n_boot=20), base, min_n=min_n),
                              float((g["tier"] == top).mean()), len(g))
    return QualityStudy(top=top, base_rate=base, overall=overall, threshold=threshold(overall, base, min_n=min_n),
                        segments=segments, observation=obs, outcome=out, missing=list(metrics.missing),
                        n_customers=len(frame))


def _chart(s: QualityStudy) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = s.overall
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    a.plot(t["k"], t["p_top"], marker="o", ms=3)
    a.fill_between(t["k"], t["p_lo"], t["p_hi"], alpha=0.25, label="95% Wilson interval")
    a.step(t["k"], t["p_iso"], where="mid", color="black", lw=1, label="monotone fit")
    a.step(t["k"], t["p_iso_lo"], where="mid", color="black", lw=0.8, ls="--", label="its 95% lower bound")
    a.axhline(s.base_rate, color="grey", ls="--", label=f"all customers {s.base_rate:.0%}")
    if s.threshold is not None:
        a.axvline(s.threshold, color="red", ls=":", label=f"threshold {s.threshold}")
    a.set(xlabel=f"purchases a month (first {len(s.observation)} months; {MAX_K} = {MAX_K}+)",
          ylabel=f"P(tier = {s.top}) later", title="Probability of the top value tier")
    a.legend(fontsize=8)
    b.plot(t["k"], t["value_mean"], marker="o", ms=3, color="tab:green")
    b.fill_between(t["k"], t["value_lo"], t["value_hi"], alpha=0.25, color="tab:green", label="95% bootstrap interval")
    b.axhline(0, color="grey", lw=0.8)
    b.set(xlabel="purchases a month", ylabel="expected 12-month profit (yuan)", title="Expected value")
    b.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def render_html(s: QualityStudy, *, source: str = "") -> str:
    """A self-contained HTML report (chart embedded as base64 PNG)."""
    en, zh = s.answer()
    seg_rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{n:,}</td><td>{rate:.1%}</td><td>{_k(th, '—')}</td></tr>"
        for k, (th, rate, n) in s.segments.items())
    table = s.overall.to_html(index=False, float_format=lambda x: f"{x:.3f}")
    notes = "".join(f"<li>Table {html.escape(m)} is absent: its profit components count as zero. "
                    f"数据中缺少 {html.escape(m)} 表，相关利润项按 0 计。</li>" for m in s.missing)
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Quality customer report</title><style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}}</style></head><body>
<h1>How many purchases a month make a quality customer? 每月消费多少笔才算优质客户？</h1>
<p><b>Answer.</b> {html.escape(en)}</p><p><b>结论。</b>{html.escape(zh)}</p>
<p>Data: {html.escape(source)}; observation months {s.observation[0]:%Y-%m}..{s.observation[-1]:%Y-%m},
outcome months {s.outcome[0]:%Y-%m}..{s.outcome[-1]:%Y-%m}; top tier '{html.escape(s.top)}' from the tier rules
applied to the outcome months' realised profit. Threshold rule: P(top tier) is fitted non-decreasing in the
purchase count (weighted isotonic regression, bootstrap 95% band); the threshold is the smallest count (bucket of at
least 30 customers) whose band's lower bound is above the all-customer rate.</p>
<ul>{notes or "<li>All tables present. 数据表齐全。</li>"}</ul>
<img alt="charts" src="data:image/png;base64,{_chart(s)}">
<h2>Threshold by spend level and risk 门槛随消费水平与风险的变化</h2>
<table><tr><th>segment</th><th>customers</th><th>P(top tier)</th><th>threshold</th></tr>{seg_rows}</table>
<h2>By purchase count 按月消费笔数</h2>{table}</body></html>"""
