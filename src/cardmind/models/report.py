"""The fraud evaluation report: Markdown (plots saved beside it) or HTML (plots embedded).

It shows the protocol, the model and both baselines on the same split (ROC AUC, AP, CP@k,
recall at 1 % FPR), ROC and precision-recall plots, fraud amount caught versus alerts reviewed,
recall per scenario, the prequential mean ± std when run, and a "where it is weak" section.
"""

from __future__ import annotations

import base64
import html
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cardmind.errors import InvalidInput
from cardmind.models.evaluation import recall_by_group
from cardmind.models.fraud import MODEL_NAMES, EvaluationResult

LABELS = {
    "lightgbm": "LightGBM (calibrated)",
    "logistic": "Logistic regression",
    "rules": "Rules only",
}
COLORS = {"lightgbm": "#1f77b4", "logistic": "#ff7f0e", "rules": "#2ca02c"}


@dataclass
class _Block:
    kind: str  # h1, h2, p, table, image
    content: Any
    extra: Any = None


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _yuan(fen: int) -> str:
    return f"{fen / 100:,.0f}"


def _plot(test: pd.DataFrame, kind: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve, roc_curve

    y = test["is_fraud"].to_numpy(bool)
    fig, ax = plt.subplots(figsize=(5.5, 4.5), dpi=100)
    for name in MODEL_NAMES:
        s = test[f"score_{name}"].to_numpy(float)
        if kind == "roc":
            fpr, tpr, _ = roc_curve(y, s)
            ax.plot(fpr, tpr, label=LABELS[name], color=COLORS[name])
        else:
            prec, rec, _ = precision_recall_curve(y, s)
            ax.plot(rec, prec, label=LABELS[name], color=COLORS[name])
    if kind == "roc":
        grid = np.linspace(0, 1, 201)
        ax.plot(grid, grid, ls=":", color="grey")
        ax.axvline(0.01, ls="--", color="grey", lw=0.8)
        ax.set_xscale("symlog", linthresh=0.01)
        ax.set_xlim(0, 1)
        ax.set_xlabel("false-positive rate (symlog; dashed: 1 %)")
        ax.set_ylabel("recall (true-positive rate)")
        ax.set_title("ROC, test window")
    else:
        ax.axhline(y.mean(), ls=":", color="grey")
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_title("Precision-recall, test window")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right" if kind == "roc" else "upper right", fontsize=8)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _segments(test: pd.DataFrame, thr: float) -> list[list[str]]:
    y = test["is_fraud"].to_numpy(bool)
    s = test["score_lightgbm"].to_numpy(float)
    amt = test["amount_fen"].to_numpy()
    seg = {
        "channel": test["channel"].astype(str).to_numpy(),
        "cross_border": np.where(
            test["cross_border"].fillna(False).to_numpy(bool), "cross-border", "domestic"
        ),
        "amount band": pd.cut(
            amt,
            [0, 10_000, 100_000, 1_000_000, np.inf],
            labels=["<100", "100-1k", "1k-10k", ">=10k CNY"],
        ).astype(str),
    }
    rows = []
    for dim, g in seg.items():
        for r in recall_by_group(y, s >= thr, g, amt):
            if r["frauds"] >= 3:
                rows.append(
                    [
                        dim,
                        str(r["group"]),
                        str(r["frauds"]),
                        _fmt(r["recall"]),
                        _fmt(r.get("amount_recall")),
                    ]
                )
    rows.sort(key=lambda r: float(r[3]) if r[3] != "n/a" else 9)
    return rows


def build(result: EvaluationResult) -> list[_Block]:
    """The report as a list of blocks (headings, paragraphs, tables, images)."""
    main = result.main
    m = main.metrics
    model = main.model
    sp = main.split
    b: list[_Block] = [_Block("h1", "Fraud model evaluation / 欺诈模型评估")]
    d = result.data
    b.append(
        _Block(
            "p",
            (
                f"Data: {d.get('rows', 0):,} purchase authorizations from {d.get('first')} to "
                f"{d.get('last')}, {d.get('features')} candidate features, {d.get('frauds'):,} frauds "
                f"(evaluation labels: {d.get('labels')})."
            ),
        )
    )
    b.append(_Block("h2", "Protocol"))
    b.append(
        _Block(
            "table",
            [
                ["slice", "from", "to (excl.)", "rows", "frauds known at cut-off"],
                [
                    "fit",
                    str(sp.train_start),
                    str(sp.valid_start),
                    str(model.training["rows"]["fit"]),
                    str(model.training["positives"]["fit"]),
                ],
                [
                    "early stopping",
                    str(sp.valid_start),
                    str(sp.calib_start),
                    str(model.training["rows"]["valid"]),
                    str(model.training["positives"]["valid"]),
                ],
                [
                    "calibration",
                    str(sp.calib_start),
                    str(sp.train_end),
                    str(model.training["rows"]["calib"]),
                    str(model.training["positives"]["calib"]),
                ],
                ["feedback-delay gap (unused)", str(sp.train_end), str(sp.cutoff), "-", "-"],
                [
                    "test",
                    str(sp.cutoff),
                    str(sp.test_end),
                    str(m["lightgbm"].rows),
                    str(m["lightgbm"].frauds),
                ],
            ],
        )
    )
    b.append(
        _Block(
            "p",
            (
                "Training labels are the fraud labels reported before the cut-off (the moment the model "
                "would be deployed); the test window is scored against "
                f"{d.get('labels')}. The three models share the split and the features; the rules baseline "
                "uses the raw authorization. Card Precision@k: each day the k cards with the highest score, "
                "cards already reported compromised removed, share truly compromised, averaged over days."
            ),
        )
    )
    k = m["lightgbm"].k
    b.append(_Block("h2", "Headline"))
    rows = [["model", "ROC AUC", "average precision", f"CP@{k}", "recall @ 1 % FPR"]]
    for name in MODEL_NAMES:
        x = m[name]
        rows.append([LABELS[name], _fmt(x.auc), _fmt(x.ap), _fmt(x.cp_at_k), _fmt(x.recall_at_fpr)])
    b.append(_Block("table", rows))
    best_base = max(m["logistic"].ap, m["rules"].ap)
    if best_base and math.isfinite(best_base) and best_base > 0:
        b.append(
            _Block(
                "p",
                f"Lift: LightGBM average precision is {m['lightgbm'].ap / best_base:.2f}x "
                f"the best baseline's.",
            )
        )
    b.append(_Block("image", "roc", _plot(main.test, "roc")))
    b.append(_Block("image", "pr", _plot(main.test, "pr")))

    b.append(_Block("h2", "Fraud amount caught versus review cost"))
    rows = [
        [
            "model",
            "alerts (share)",
            "alerts",
            "frauds caught",
            "recall",
            "fraud amount caught (CNY)",
            "amount share",
            "alert precision",
        ]
    ]
    for name in MODEL_NAMES:
        for r in m[name].review:
            rows.append(
                [
                    LABELS[name],
                    f"{r['alert_share']:.1%}",
                    str(r["alerts"]),
                    str(r["frauds_caught"]),
                    _fmt(r["recall"]),
                    _yuan(r["fraud_amount_fen"]),
                    _fmt(r["amount_share"]),
                    _fmt(r["precision"]),
                ]
            )
    b.append(_Block("table", rows))

    if m["lightgbm"].by_scenario:
        b.append(_Block("h2", "Recall per scenario (at each model's 1 % FPR threshold)"))
        scen = sorted({r["group"] for n in MODEL_NAMES for r in m[n].by_scenario})
        per = {n: {r["group"]: r for r in m[n].by_scenario} for n in MODEL_NAMES}
        rows = [["scenario", "frauds", *[LABELS[n] for n in MODEL_NAMES], "LightGBM amount recall"]]
        for sc in scen:
            lg = per["lightgbm"].get(sc, {})
            rows.append(
                [
                    sc,
                    str(lg.get("frauds", "")),
                    *[_fmt(per[n].get(sc, {}).get("recall")) for n in MODEL_NAMES],
                    _fmt(lg.get("amount_recall")),
                ]
            )
        b.append(_Block("table", rows))

    if result.folds:
        summ = result.prequential_summary()
        b.append(
            _Block("h2", f"Prequential evaluation ({len(result.folds)} rolling folds, mean ± std)")
        )
        keys = list(next(iter(summ.values())).keys())
        rows = [["model", *keys]]
        for name in MODEL_NAMES:
            rows.append(
                [
                    LABELS[name],
                    *[f"{summ[name][kk][0]:.3f} ± {summ[name][kk][1]:.3f}" for kk in keys],
                ]
            )
        b.append(_Block("table", rows))
        rows = [["fold test window", "frauds", *[f"AP {n}" for n in MODEL_NAMES]]]
        for f in result.folds:
            rows.append(
                [
                    f"{f.split.cutoff.date()} .. {f.split.test_end.date()}",
                    str(f.metrics["lightgbm"].frauds),
                    *[_fmt(f.metrics[n].ap) for n in MODEL_NAMES],
                ]
            )
        b.append(_Block("table", rows))

    b.append(_Block("h2", "The model"))
    b.append(
        _Block(
            "p",
            (
                f"{len(model.feature_names)} features selected from {model.training['candidate_features']} by "
                f"gain, refit; {model.best_iteration} trees (early stopping on average precision); imbalance: "
                f"scale_pos_weight = {model.training['scale_pos_weight']:.1f} ({model.config.imbalance}); "
                f"calibration: {model.calibration.method}; training took {model.training['seconds']} s."
            ),
        )
    )
    from cardmind.models.explain import describe_feature

    total = sum(model.gains.values()) or 1.0
    rows = [["feature", "gain share", "meaning", "含义"]]
    for f in sorted(model.feature_names, key=lambda n: -model.gains[n])[:15]:
        t = describe_feature(f, model.feature_definitions.get(f), model.feature_definitions)
        rows.append([f"`{f}`", f"{model.gains[f] / total:.1%}", t.en, t.zh])
    b.append(_Block("table", rows))

    b.append(_Block("h2", "Where it is weak / 薄弱环节"))
    weak: list[str] = []
    lg = m["lightgbm"]
    if lg.by_scenario:
        low = lg.by_scenario[0]
        weak.append(
            f"Lowest scenario recall at 1 % FPR: **{low['group']}** ({_fmt(low['recall'])} of "
            f"{low['frauds']} frauds)."
        )
        for n in ("logistic", "rules"):
            other = {r["group"]: r["recall"] for r in m[n].by_scenario}
            better = [r["group"] for r in lg.by_scenario if other.get(r["group"], 0) > r["recall"]]
            if better:
                weak.append(
                    f"The {LABELS[n].lower()} baseline recalls more on: {', '.join(better)}."
                )
    y = main.test["is_fraud"].to_numpy(bool)
    hit_lg = main.test["score_lightgbm"].to_numpy() >= lg.threshold
    hit_rules = main.test["score_rules"].to_numpy() >= m["rules"].threshold
    missed = int((y & ~hit_lg & hit_rules).sum())
    weak.append(f"{missed} test frauds are caught by the rules at 1 % FPR but missed by the model.")
    genuine_median = {n: np.median(main.test[f"score_{n}"].to_numpy()[~y]) for n in MODEL_NAMES}
    buried = {
        n: float((main.test[f"score_{n}"].to_numpy()[y] <= genuine_median[n]).mean())
        for n in MODEL_NAMES
        if y.any()
    }
    if buried:
        weak.append(
            f"Frauds scored at or below the median genuine score (invisible to any review budget): "
            f"LightGBM {buried['lightgbm']:.1%}, logistic {buried['logistic']:.1%}, "
            f"rules {buried['rules']:.1%}."
        )
    better_auc = [n for n in ("logistic", "rules") if m[n].auc > lg.auc]
    if better_auc:
        weak.append(
            f"ROC AUC is below the {', '.join(LABELS[n].lower() for n in better_auc)} baseline: "
            "the model ranks the riskiest purchases far better (AP, recall at 1 % FPR) but gives "
            "some frauds that look ordinary to its trees the lowest scores."
        )
    cal = main.test["score_lightgbm"].to_numpy()
    weak.append(
        f"Calibration check: mean predicted probability {cal.mean():.4f} vs observed fraud "
        f"rate {y.mean():.4f} on the test window."
    )
    for w in weak:
        b.append(_Block("p", "- " + w))
    seg = _segments(main.test, lg.threshold)
    if seg:
        b.append(
            _Block("p", "Recall of the model at its 1 % FPR threshold by segment (lowest first):")
        )
        b.append(
            _Block("table", [["segment", "value", "frauds", "recall", "amount recall"], *seg[:12]])
        )
    return b


def to_markdown(blocks: list[_Block], image_dir: Path, stem: str) -> str:
    out: list[str] = []
    for blk in blocks:
        if blk.kind == "h1":
            out += [f"# {blk.content}", ""]
        elif blk.kind == "h2":
            out += [f"## {blk.content}", ""]
        elif blk.kind == "p":
            out += [blk.content, ""]
        elif blk.kind == "table":
            head, *body = blk.content
            out.append("| " + " | ".join(head) + " |")
            out.append("|" + "---|" * len(head))
            out += ["| " + " | ".join(r) + " |" for r in body]
            out.append("")
        elif blk.kind == "image":
            name = f"{stem}_{blk.content}.png"
            (image_dir / name).write_bytes(blk.extra)
            out += [f"![{blk.content.upper()} curve]({name})", ""]
    return "\n".join(out)


def to_html(blocks: list[_Block]) -> str:
    import re

    def inline(text: str) -> str:
        t = html.escape(text)
        t = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", t)
        return re.sub(r"`(.+?)`", r"<code>\1</code>", t)

    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>cardmind fraud evaluation</title><style>body{font-family:sans-serif;max-width:"
        "1100px;margin:2em auto}table{border-collapse:collapse;margin:1em 0}td,th{border:1px "
        "solid #ccc;padding:3px 8px;font-size:13px}th{background:#f3f3f3}</style></head><body>",
    ]
    for blk in blocks:
        if blk.kind in ("h1", "h2"):
            parts.append(f"<{blk.kind}>{inline(blk.content)}</{blk.kind}>")
        elif blk.kind == "p":
            parts.append(f"<p>{inline(blk.content)}</p>")
        elif blk.kind == "table":
            head, *body = blk.content
            parts.append("<table><tr>" + "".join(f"<th>{inline(h)}</th>" for h in head) + "</tr>")
            parts += ["<tr>" + "".join(f"<td>{inline(c)}</td>" for c in r) + "</tr>" for r in body]
            parts.append("</table>")
        elif blk.kind == "image":
            data = base64.b64encode(blk.extra).decode()
            parts.append(f"<img alt='{blk.content} curve' src='data:image/png;base64,{data}'>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(result: EvaluationResult, path: str | Path) -> Path:
    """Write the report; ``.html`` gives one self-contained file, ``.md`` Markdown + PNGs beside it."""
    path = Path(path)
    if path.suffix.lower() not in (".md", ".html", ".htm"):
        raise InvalidInput(f"{path}: report must end in .md or .html")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"{path.parent}: cannot create ({exc.strerror})") from exc
    blocks = build(result)
    if path.suffix.lower() == ".md":
        path.write_text(to_markdown(blocks, path.parent, path.stem), encoding="utf-8")
    else:
        path.write_text(to_html(blocks), encoding="utf-8")
    return path
