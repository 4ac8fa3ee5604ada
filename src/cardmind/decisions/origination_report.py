"""``cardmind report credit``: one self-contained HTML page (plots embedded as base64 PNG).

Sections, each present when the dataset allows it:

1. application scorecard: CV AUC/KS of champion and challenger, the scorecard table;
2. the policy on every application: approve / decline / refer, auto-decision rate, and for
   simulated data the bad rate per action against the true outcome, the legacy decision, and the
   reject-inference study;
3. approval rates by protected attribute (never a model input);
4. population stability (PSI) of the application score and characteristics between the first and
   the second half of the application period, and of the behaviour score between two statement
   months;
5. behaviour score: CV AUC/KS and the distribution of line actions.
"""

from __future__ import annotations

import base64
import html
import io
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cardmind.dataset import Dataset
from cardmind.decisions.origination import OriginationPolicy
from cardmind.decisions.origination_study import (
    decision_mix,
    evaluate_on_truth,
    reject_inference_study,
)
from cardmind.errors import InvalidInput
from cardmind.models.credit.application import application_features
from cardmind.models.credit.behaviour import BehaviourModel, behaviour_frame, monthly_aggregates
from cardmind.models.credit.monitoring import scorecard_stability


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return (
        f'<img alt="plot" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'
    )


def _table(df: pd.DataFrame, digits: int = 4) -> str:
    return df.round(digits).to_html(index=False, border=0, classes="t", na_rep="")


def _kv(d: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(f'{v:.4f}' if isinstance(v, float) else str(v))}</td></tr>"
        for k, v in d.items()
    )
    return f'<table class="t">{rows}</table>'


def _score_plots(decisions: pd.DataFrame, truth: np.ndarray | None, legacy: np.ndarray) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1, 2 if truth is not None else 1, figsize=(11 if truth is not None else 6, 3.6)
    )
    axes = np.atleast_1d(axes)
    s = decisions["score"].to_numpy()
    axes[0].hist(
        [s[legacy], s[~legacy]], bins=30, label=["legacy approved", "legacy rejected"], stacked=True
    )
    axes[0].set_title("Application score distribution")
    axes[0].set_xlabel("score (points)")
    axes[0].legend()
    if truth is not None:
        order = np.argsort(-s)
        cum_bad = np.cumsum(truth[order]) / np.arange(1, len(s) + 1)
        share = np.arange(1, len(s) + 1) / len(s)
        axes[1].plot(share, cum_bad, label="champion scorecard")
        axes[1].axhline(
            truth[legacy].mean(), color="grey", ls="--", label="legacy approved bad rate"
        )
        axes[1].axvline(legacy.mean(), color="grey", ls=":")
        axes[1].set_title("Approval rate vs bad rate (through the door, truth)")
        axes[1].set_xlabel("approval rate (best scores first)")
        axes[1].set_ylabel("bad rate of approved")
        axes[1].legend()
    return _png(fig)


def _bar(counts: dict[str, int], title: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar(list(counts), list(counts.values()))
    ax.set_title(title)
    return _png(fig)


def build_report(
    dataset: Dataset | str,
    *,
    policy: OriginationPolicy | None,
    behaviour: BehaviourModel | None,
    reject_inference_repeats: int = 3,
) -> str:
    """The report as an HTML string."""
    ds = dataset if isinstance(dataset, Dataset) else Dataset(dataset)
    parts: list[str] = [
        f"<h1>cardmind credit report 信用风险报告</h1><p>dataset: {html.escape(str(ds.path))}</p>"
    ]
    if policy is not None and policy.models is not None and ds.has("applications"):
        apps = ds.read("applications").to_pandas()
        models = policy.models
        parts.append("<h2>1. Application scorecard 申请评分卡</h2>")
        cv = models.metrics.get("cv_known_outcomes")
        if cv:
            parts.append(_table(pd.DataFrame(list(cv.values()))))
        info = models.champion.information()
        parts.append(
            f"<p>scaling: {info['scaling']} (points to double the odds); score range "
            f"{info['score_range']}; protected attributes excluded: {info['excluded_protected'] or 'none present'}</p>"
        )
        parts.append(_table(models.champion.table(), 3))
        decisions = policy.decide_frame(apps)
        legacy = (
            (apps["decision"] == "approved").to_numpy()
            if "decision" in apps
            else np.zeros(len(apps), bool)
        )
        truth = None
        parts.append("<h2>2. Policy on all applications 审批策略</h2>")
        if ds.has("truth_applications"):
            ev = evaluate_on_truth(policy, ds)
            from cardmind.models.credit.outcomes import through_the_door_truth

            truth = through_the_door_truth(ds, apps["application_id"])
            parts.append(
                "<p>Simulated data: outcomes of rejected applicants known (evaluation only).</p>"
            )
            parts.append(
                _kv(
                    {
                        **ev["policy"],
                        **{f"legacy_{k}": v for k, v in ev["legacy"].items()},
                        "champion_auc_through_the_door": ev["champion_through_the_door"]["auc"],
                        "champion_ks_through_the_door": ev["champion_through_the_door"]["ks"],
                    }
                )
            )
            if reject_inference_repeats > 0:
                parts.append("<h3>Reject inference (measured against the truth)</h3>")
                ri = reject_inference_study(ds, repeats=reject_inference_repeats)
                parts.append(_table(ri))
        else:
            parts.append(_kv(decision_mix(decisions)))
        parts.append(_score_plots(decisions, truth, legacy))
        protected = [c for c in ("gender",) if c in apps.columns and apps[c].notna().any()]
        if protected:
            from cardmind.models.credit.evaluation import fairness_table

            parts.append("<h2>3. Approval rate by protected attribute 公平性</h2>")
            parts.append(
                "<p>Protected attributes are never model inputs or request fields; this table "
                "only monitors outcomes.</p>"
            )
            parts.append(
                _table(
                    fairness_table(
                        (decisions["action"] == "APPROVE").to_numpy(), apps[protected], truth
                    )
                )
            )
        if "applied_at" in apps.columns and apps["applied_at"].notna().all() and len(apps) >= 200:
            cut = apps["applied_at"].median()
            feats = application_features(apps)
            base, recent = feats[apps["applied_at"] <= cut], feats[apps["applied_at"] > cut]
            if len(base) and len(recent):
                parts.append("<h2>4. Population stability (PSI) 群体稳定性</h2>")
                parts.append(
                    f"<p>Applications up to {cut:%Y-%m-%d} (baseline, {len(base)}) vs after ({len(recent)}). "
                    "PSI &lt; 0.10 stable, 0.10-0.25 moderate, &gt; 0.25 major shift.</p>"
                )
                parts.append(_table(scorecard_stability(models.champion, base, recent)))
    if behaviour is not None and ds.has("statements"):
        parts.append("<h2>5. Behaviour score 行为评分</h2>")
        meta = behaviour.metadata
        parts.append(
            f"<p>{html.escape(meta['target'])}; observed at {meta['as_of']}, bad rate {meta['bad_rate']:.2%}</p>"
        )
        parts.append(_table(pd.DataFrame(list(meta["metrics"]["cv"].values()))))
        agg = monthly_aggregates(ds)
        last = pd.to_datetime(agg["statement_date"]).max().date()
        prev_month = date(last.year - (last.month == 1), (last.month - 2) % 12 + 1, 28)
        _, x_prev, _ = behaviour_frame(ds, as_of=prev_month, agg=agg)
        _, x_last, _ = behaviour_frame(ds, as_of=last, agg=agg)
        if len(x_prev) and len(x_last):
            parts.append(f"<h3>PSI: statement month of {prev_month:%Y-%m} vs {last:%Y-%m}</h3>")
            parts.append(_table(scorecard_stability(behaviour.scorecard, x_prev, x_last)))
            grades = behaviour.scorecard.scaling_.pd_from_score(behaviour.scorecard.score(x_last))
            from cardmind.decisions.line_management import LineManagementPolicy

            g = LineManagementPolicy().grades
            labels = np.asarray(g.labels)[g.grade_index(grades)]
            parts.append(
                _bar(
                    pd.Series(labels).value_counts().sort_index().to_dict(),
                    "Behaviour grades, latest month",
                )
            )
    if len(parts) == 1:
        raise InvalidInput(
            f"{ds.path}: nothing to report (needs applications with a trained origination bundle, "
            "or statements with a behaviour model)"
        )
    return _page(parts)


def build_imported_report(
    dataset: Dataset | str, report: Any, X: pd.DataFrame, y: np.ndarray
) -> str:
    """Report of a scorecard trained on imported data with outcomes (e.g. German credit):
    cross-validated AUC/KS of champion and challenger, cost-based cut-off, fairness by the
    protected attributes, PSI between the two halves of the file, the scorecard table."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cardmind.models.credit.monitoring import scorecard_stability

    ds = dataset if isinstance(dataset, Dataset) else Dataset(dataset)
    s = report.summary()
    parts = [
        f"<h1>cardmind credit report 信用风险报告</h1><p>dataset: {html.escape(str(ds.path))} "
        f"({len(X)} applications, bad rate {float(np.mean(y)):.1%})</p>",
        "<h2>1. Cross-validated performance 交叉验证</h2>",
        _table(
            pd.DataFrame(
                [{**v, "accuracy_at_0.5": s["accuracy_at_0.5"][k]} for k, v in s["cv"].items()]
            )
        ),
        "<h2>2. Cut-off 审批线</h2>",
        _kv(
            {
                k: s[k]
                for k in (
                    "cutoff_pd",
                    "cutoff_score",
                    "approval_rate_at_cutoff",
                    "bad_rate_of_approved",
                    "expected_cost_per_applicant",
                )
            }
        ),
    ]
    oof = report.cv["champion_scorecard"].oof
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.hist([oof[y == 0], oof[y == 1]], bins=30, label=["good", "bad"], stacked=True)
    ax.axvline(report.cutoff_pd, color="k", ls="--", label="cut-off")
    ax.set_xlabel("out-of-fold PD (champion)")
    ax.legend()
    parts.append(_png(fig))
    parts += [
        "<h2>3. Approval rate by protected attribute 公平性</h2>",
        f"<p>Excluded from the models: {html.escape(', '.join(report.excluded) or 'none')}.</p>",
        _table(report.fairness),
    ]
    half = len(X) // 2
    parts += [
        "<h2>4. Population stability (PSI) 群体稳定性</h2>",
        "<p>First half of the file vs second half (the file has no application dates).</p>",
        _table(scorecard_stability(report.champion, X.iloc[:half], X.iloc[half:])),
        "<h2>5. Scorecard 评分卡</h2>",
        _table(report.champion.table(), 3),
    ]
    return _page(parts)


def _page(parts: list[str]) -> str:
    style = (
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
        "table.t{border-collapse:collapse;font-size:12px;margin:0.5em 0}"
        "table.t td,table.t th{border:1px solid #ccc;padding:2px 6px}</style>"
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>cardmind credit report</title>"
        f"{style}</head><body>{''.join(parts)}</body></html>"
    )


def write_report(path: str | Path, text: str) -> None:
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise InvalidInput(f"--out must be an .html file, got {path.name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
