"""``cardmind train credit``, ``cardmind preapprove`` and ``cardmind report credit`` (thin wrappers)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from cardmind.cli import app


def _group(name: str, help_text: str) -> typer.Typer:
    """The sub-app ``name``, shared with other command modules that register the same group."""
    for g in app.registered_groups:
        if g.name == name and g.typer_instance is not None:
            return g.typer_instance
    sub = typer.Typer(help=help_text, no_args_is_help=True)
    app.add_typer(sub, name=name)
    return sub


train_app = _group("train", "Train models (训练模型).")
report_app = _group("report", "Write reports (报告).")


def _print_table(title: str, rows: list[dict], columns: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title)
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(
            *[f"{r[c]:.4f}" if isinstance(r.get(c), float) else str(r.get(c, "")) for c in columns]
        )
    Console().print(t)


DATA = typer.Option(..., "--data", help="Dataset folder (simulated, or imported with outcomes).")
MODEL_OUT = typer.Option(
    None, "--out", help="Model folder (default: under $CARDMIND_HOME/models/credit)."
)


@train_app.command("credit")
def train_credit(
    data: Path = DATA,
    out: Path = MODEL_OUT,
    reject_inference: str = typer.Option(
        "fuzzy", help="Reject inference for simulated/bank applications: none, fuzzy or parceling."
    ),
    folds: int = typer.Option(5, help="Cross-validation folds."),
    seed: int = typer.Option(0, help="Random seed."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
) -> None:
    """Train the credit scorecard (champion) and LightGBM (challenger) (训练信用评分卡).

    A dataset imported with outcomes (``application_outcomes``, e.g. German credit) gets 5-fold
    CV AUC/KS for both models, accuracy, a cost-based cut-off and a fairness table by the
    protected attributes. Applications in the cardmind schema (simulated or a bank's) train the
    origination bundle the API serves: champion, challenger, quick-quote model.
    """
    from cardmind.dataset import Dataset
    from cardmind.errors import InvalidInput

    if folds < 2:
        raise InvalidInput(f"--folds must be >= 2, got {folds}")
    ds = Dataset(data)
    imported_only = _imported_only(ds)
    if imported_only:
        from cardmind.models.credit.german import frame_from_dataset
        from cardmind.models.credit.training import train_application_models

        X, y, protected = frame_from_dataset(ds)
        report = train_application_models(X, y, protected=protected, n_splits=folds, seed=seed)
        folder = out or Path(_home()) / "models" / "credit" / f"scorecard-{ds.path.name}"
        folder.mkdir(parents=True, exist_ok=True)
        report.champion.save(folder / "champion.json")
        report.champion.to_csv(folder / "champion.csv")
        report.challenger.save(folder / "challenger.json")
        summary = report.summary()
        (folder / "report.json").write_text(
            json.dumps(summary, indent=1, ensure_ascii=False, default=float)
        )
        if as_json:
            typer.echo(json.dumps(summary, ensure_ascii=False, default=float))
            return
        _print_table(
            f"{folds}-fold cross-validation ({len(X)} applications, bad rate {y.mean():.1%})",
            [{**v, "accuracy@0.5": report.accuracy_at_half[k]} for k, v in summary["cv"].items()],
            ["model", "auc_mean", "auc_std", "ks_mean", "ks_std", "accuracy@0.5"],
        )
        typer.echo(
            f"cut-off PD < {report.cutoff_pd:.3f} (score >= {report.cutoff_score}): approval "
            f"{report.approval_rate:.1%}, bad rate of approved {report.bad_rate_approved:.1%}, "
            f"cost {report.expected_cost:.3f}/applicant; protected attributes excluded: {report.excluded}"
        )
        _print_table(
            "approval rate by protected attribute (fairness)",
            summary["fairness"],
            ["attribute", "group", "n", "approval_rate", "bad_rate_approved", "ratio_to_max"],
        )
        typer.echo(f"models and report: {folder}")
        return

    from cardmind.decisions.origination_study import train_origination
    from cardmind.models.credit.application import default_bundle_dir

    trained = train_origination(ds, reject_inference=reject_inference, n_splits=folds, seed=seed)
    folder = out or default_bundle_dir()
    trained.policy.models.save(folder)
    m = trained.metrics
    if ds.has("truth_applications"):  # simulated data: evaluation against the true outcomes
        from cardmind.decisions.origination_study import evaluate_on_truth

        m = {**m, "evaluation_on_truth": evaluate_on_truth(trained.policy, ds)}
    if as_json:
        typer.echo(json.dumps(m, ensure_ascii=False, default=float))
        return
    _print_table(
        f"{folds}-fold CV on approved applications with an outcome ({m['n_with_outcome']}, "
        f"bad rate {m['bad_rate_with_outcome']:.2%})",
        list(m["cv_known_outcomes"].values()),
        ["model", "auc_mean", "auc_std", "ks_mean", "ks_std"],
    )
    mix = m["policy_on_all_applications"]
    typer.echo(
        f"policy on all {mix['n']} applications: approve {mix['approve_rate']:.1%}, decline "
        f"{mix['decline_rate']:.1%}, refer {mix['refer_rate']:.1%} (auto-decision rate "
        f"{mix['auto_decision_rate']:.1%}); reject inference: {m['reject_inference']}"
    )
    ev = m.get("evaluation_on_truth")
    if ev:
        p, legacy = ev["policy"], ev["legacy"]
        typer.echo(
            f"against the simulator's truth: bad rate of auto-approvals {p['bad_rate_approve']:.2%} "
            f"(declines {p['bad_rate_decline']:.2%}, referrals {p['bad_rate_refer'] or 0:.2%}); legacy "
            f"policy approved {legacy['approve_rate']:.1%} with {legacy['bad_rate_approved']:.2%} bad; "
            f"champion AUC through the door {ev['champion_through_the_door']['auc']:.3f}"
        )
    typer.echo(f"origination models: {folder}")


def _imported_only(ds) -> bool:
    """An imported dataset with outcomes whose applications lack the cardmind application
    characteristics (e.g. German credit): it trains a scorecard on its own columns, not the
    origination bundle the API serves."""
    present = set(ds.manifest.get("columns_present", {}).get("applications", []))
    return (
        ds.has("application_outcomes")
        and ds.manifest.get("source") == "ingest"
        and not present >= {"monthly_income_fen", "existing_debt_fen", "bureau_inquiries_6m"}
    )


def _home() -> Path:
    from cardmind.settings import get_settings

    return get_settings().home


HORIZON = typer.Option(6, help="Months ahead of the 90+ DPD target.")
PARQUET_OUT = typer.Option(..., "--out", help="Output Parquet file (one row per customer).")
BEHAVIOUR_MODEL = typer.Option(
    None, "--model", help="Behaviour model folder (default: trained one)."
)


@train_app.command("behaviour")
def train_behaviour_command(
    data: Path = DATA,
    out: Path = MODEL_OUT,
    horizon: int = HORIZON,
    folds: int = typer.Option(5, help="Cross-validation folds."),
    as_json: bool = typer.Option(False, "--json", help="Print the metadata as JSON."),
) -> None:
    """Train the behaviour score: P(90+ days past due within the horizon) (训练行为评分)."""
    from cardmind.models.credit.behaviour import default_behaviour_dir, train_behaviour

    model = train_behaviour(data, horizon=horizon, n_splits=folds)
    folder = out or default_behaviour_dir()
    model.save(folder)
    if as_json:
        typer.echo(json.dumps(model.metadata, default=str))
        return
    meta = model.metadata
    _print_table(
        f"behaviour score: {meta['target']} (observed at {meta['as_of']}, {meta['n_cards']} cards, "
        f"bad rate {meta['bad_rate']:.2%})",
        list(meta["metrics"]["cv"].values()),
        ["model", "auc_mean", "auc_std", "ks_mean", "ks_std"],
    )
    typer.echo(f"behaviour model: {folder}")


@app.command("preapprove")
def preapprove_command(
    data: Path = DATA,
    out: Path = PARQUET_OUT,
    model: Path = BEHAVIOUR_MODEL,
    horizon: int = HORIZON,
    chunk_rows: int = typer.Option(1_000_000, help="Customers per vectorised chunk."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Batch pre-approval of existing customers (智能预审): behaviour score with reasons, line
    increase/hold/decrease, early warning, product offers and profile tags, as Parquet.

    Without a trained behaviour model (``cardmind train behaviour``) one is trained on DIR first.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from cardmind.decisions.preapproval import preapprove_dataset
    from cardmind.models.credit.behaviour import (
        BehaviourModel,
        default_behaviour_dir,
        train_behaviour,
    )

    folder = model or default_behaviour_dir()
    if (folder / "metadata.json").is_file():
        bm = BehaviourModel.load(folder)
    elif model is not None:
        from cardmind.errors import InvalidInput

        raise InvalidInput(f"--model {model}: no behaviour model there")
    else:
        typer.echo(
            f"no behaviour model in {folder}: training one on {data} (horizon {horizon} months)",
            err=True,
        )
        bm = train_behaviour(data, horizon=horizon)
        bm.save(folder)
    with Progress(
        TextColumn("pre-approval"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=as_json,
    ) as bar:
        task = bar.add_task("customers", total=None)
        summary = preapprove_dataset(
            data,
            bm,
            out,
            chunk_rows=chunk_rows,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    if as_json:
        typer.echo(json.dumps(summary, default=str))
        return
    n = summary["customers"]
    acts = summary["line_actions"]
    typer.echo(
        f"{n:,} customers as of {summary['as_of']}: increase {acts.get('increase', 0):,}, hold "
        f"{acts.get('hold', 0):,}, decrease {acts.get('decrease', 0):,}; pre-approved increases "
        f"¥{summary['pre_approved_increase_total_fen'] / 100:,.0f}; early warning {summary['early_warning']:,}"
    )
    typer.echo("offers: " + ", ".join(f"{k} {v:,}" for k, v in summary["offers"].items()))
    typer.echo("tags: " + ", ".join(f"{k} {v:,}" for k, v in summary["tags"].items()))
    typer.echo(f"written: {out}")


HTML_OUT = typer.Option(..., "--out", help="Output HTML file.")


@report_app.command("credit")
def report_credit(
    data: Path = DATA,
    out: Path = HTML_OUT,
    repeats: int = typer.Option(3, help="Repeats of the reject-inference study (simulated data)."),
) -> None:
    """HTML credit report with plots (信用风险报告): scorecard, policy, fairness, PSI, behaviour.

    Uses the trained origination and behaviour models (``cardmind train credit`` /
    ``cardmind train behaviour``); trains them on DIR first when absent.
    """
    from cardmind.dataset import Dataset
    from cardmind.decisions.origination import OriginationPolicy
    from cardmind.decisions.origination_report import build_report, write_report
    from cardmind.errors import InvalidInput
    from cardmind.models.credit.application import OriginationModels, default_bundle_dir
    from cardmind.models.credit.behaviour import BehaviourModel, default_behaviour_dir

    if out.suffix.lower() not in (".html", ".htm"):
        raise InvalidInput(f"--out must be an .html file, got {out.name}")
    ds = Dataset(data)
    policy = None
    if _imported_only(ds):
        from cardmind.decisions.origination_report import build_imported_report
        from cardmind.models.credit.german import frame_from_dataset
        from cardmind.models.credit.training import train_application_models

        X, y, protected = frame_from_dataset(ds)
        report = train_application_models(X, y, protected=protected)
        write_report(out, build_imported_report(ds, report, X, y))
        typer.echo(f"report: {out}")
        return
    if ds.has("applications"):
        folder = default_bundle_dir()
        if (folder / "bundle.json").is_file():
            policy = OriginationPolicy(OriginationModels.load(folder))
        else:
            from cardmind.decisions.origination_study import train_origination

            typer.echo(f"no origination models in {folder}: training on {data}", err=True)
            try:
                policy = train_origination(ds, reject_inference="fuzzy").policy
                policy.models.save(folder)
            except InvalidInput as exc:
                typer.echo(f"origination section skipped: {exc}", err=True)
    behaviour = None
    if ds.has("statements"):
        folder = default_behaviour_dir()
        if (folder / "metadata.json").is_file():
            behaviour = BehaviourModel.load(folder)
        else:
            from cardmind.models.credit.behaviour import train_behaviour

            typer.echo(f"no behaviour model in {folder}: training on {data}", err=True)
            try:
                behaviour = train_behaviour(ds, horizon=3)
                behaviour.save(folder)
            except InvalidInput as exc:
                typer.echo(f"behaviour section skipped: {exc}", err=True)
    write_report(
        out, build_report(ds, policy=policy, behaviour=behaviour, reject_inference_repeats=repeats)
    )
    typer.echo(f"report: {out}")
