"""``cardmind train fraud``, ``cardmind evaluate [fraud]`` and ``cardmind models list|describe|promote``."""

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
models_app = _group("models", "The model registry: list, describe, promote (模型仓库).")


def _spec(test_days: int, delay_days: int, valid_days: int, calib_days: int, warmup_days: int):
    from cardmind.errors import InvalidInput
    from cardmind.models.evaluation import SplitSpec

    try:
        return SplitSpec(
            test_days=test_days,
            delay_days=delay_days,
            valid_days=valid_days,
            calib_days=calib_days,
            warmup_days=warmup_days,
        )
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc


def _config(rounds: int, top_features: int, threads: int, imbalance: str = "none"):
    from cardmind.errors import InvalidInput
    from cardmind.models.fraud import FraudTrainConfig

    try:
        return FraudTrainConfig(
            num_boost_round=rounds,
            top_features=top_features,
            num_threads=threads,
            imbalance=imbalance,
        )
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc


DATA = typer.Option(..., "--data", help="Dataset folder (simulated or ingested).")
TEST_DAYS = typer.Option(14, help="Days in the test window.")
DELAY_DAYS = typer.Option(21, help="Feedback-delay gap between training and test (days).")
VALID_DAYS = typer.Option(14, help="Early-stopping slice (days).")
CALIB_DAYS = typer.Option(14, help="Calibration slice (days).")
WARMUP_DAYS = typer.Option(7, help="First days skipped so windowed features have history.")
ROUNDS = typer.Option(600, help="Maximum boosting rounds (early stopping picks fewer).")
TOP = typer.Option(40, help="Features kept after selection by gain.")
OUT = typer.Option(
    None, "--out", help="Report (.md or .html); default $CARDMIND_HOME/reports/fraud_evaluation.md"
)
FEATURES = typer.Option(
    "full", "--features", help="Candidate features: full (~500) or compact (~150)."
)
IMBALANCE = typer.Option("none", help="Class re-weighting: none, fourth_root, sqrt or balanced.")
THREADS = typer.Option(1, help="LightGBM threads (1 is best on a busy machine).")
PREQUENTIAL = typer.Option(0, "--prequential", help="Rolling folds, e.g. 3 (0: off).")


@train_app.command("fraud")
def train_fraud_command(
    data: Path = DATA,
    name: str = typer.Option("fraud", help="Registry name of the model."),
    test_days: int = TEST_DAYS,
    delay_days: int = DELAY_DAYS,
    valid_days: int = VALID_DAYS,
    calib_days: int = CALIB_DAYS,
    warmup_days: int = WARMUP_DAYS,
    rounds: int = ROUNDS,
    top_features: int = TOP,
    features: str = FEATURES,
    threads: int = THREADS,
    imbalance: str = IMBALANCE,
    promote: bool = typer.Option(False, "--promote", help="Mark the new version as production."),
) -> None:
    """Train the fraud model (LightGBM, point-in-time features, delayed labels) and register it."""
    from cardmind.dataset import Dataset
    from cardmind.models.fraud import (
        build_training_table,
        fraud_candidates,
        train_and_register,
    )

    spec = _spec(test_days, delay_days, valid_days, calib_days, warmup_days)
    config = _config(rounds, top_features, threads, imbalance)
    ds = Dataset(data)
    typer.echo(f"building the training table from {data} ...", err=True)
    table = build_training_table(
        ds, fraud_candidates(size=features), progress=lambda m: typer.echo(m, err=True)
    )
    typer.echo(
        f"{len(table):,} purchases x {len(table.feature_names)} features; training ...", err=True
    )
    version, metrics = train_and_register(
        table,
        spec,
        config,
        name=name,
        promote=promote,
    )
    typer.echo(f"registered {name} {version}" + (" (production)" if promote else ""))
    typer.echo(json.dumps({k: metrics[k] for k in ("auc", "ap", "cp_at_k", "recall_at_fpr")}))


evaluate_app = typer.Typer(
    help="Evaluate models (评估模型). `cardmind evaluate --data DIR` (no subcommand) is the fraud "
    "evaluation, the same as `cardmind evaluate fraud --data DIR`.",
)
app.add_typer(evaluate_app, name="evaluate")
FRAUD_DATA = typer.Option(None, "--data", help="Dataset folder (simulated or ingested).")


def _evaluate_fraud(
    data: Path,
    out: Path | None,
    prequential: int,
    k: int,
    test_days: int,
    delay_days: int,
    valid_days: int,
    calib_days: int,
    warmup_days: int,
    rounds: int,
    top_features: int,
    features: str,
    threads: int,
    imbalance: str,
) -> None:
    from cardmind.dataset import Dataset
    from cardmind.errors import InvalidInput
    from cardmind.models.fraud import build_training_table, evaluate_fraud, fraud_candidates
    from cardmind.models.report import write_report
    from cardmind.settings import get_settings

    if prequential < 0 or k < 1:
        raise InvalidInput("--prequential must be >= 0 and -k >= 1")
    spec = _spec(test_days, delay_days, valid_days, calib_days, warmup_days)
    config = _config(rounds, top_features, threads, imbalance)
    ds = Dataset(data)
    out = out or get_settings().home / "reports" / "fraud_evaluation.md"
    typer.echo(f"building the training table from {data} ...", err=True)
    table = build_training_table(
        ds, fraud_candidates(size=features), progress=lambda m: typer.echo(m, err=True)
    )
    typer.echo(
        f"{len(table):,} purchases x {len(table.feature_names)} features; evaluating ...", err=True
    )
    result = evaluate_fraud(
        table,
        spec,
        config,
        prequential=prequential,
        k=k,
    )
    path = write_report(result, out)
    for name, m in result.main.metrics.items():
        h = m.headline()
        typer.echo(f"{name:<9} " + "  ".join(f"{key}={val:.3f}" for key, val in h.items()))
    typer.echo(f"report: {path}")




@evaluate_app.callback(invoke_without_command=True)
def evaluate_command(
    ctx: typer.Context,
    data: Path = FRAUD_DATA,
    out: Path = OUT,
    prequential: int = PREQUENTIAL,
    k: int = typer.Option(100, help="k of Card Precision@k."),
    test_days: int = TEST_DAYS,
    delay_days: int = DELAY_DAYS,
    valid_days: int = VALID_DAYS,
    calib_days: int = CALIB_DAYS,
    warmup_days: int = WARMUP_DAYS,
    rounds: int = ROUNDS,
    top_features: int = TOP,
    features: str = FEATURES,
    threads: int = THREADS,
    imbalance: str = IMBALANCE,
) -> None:
    """Without a subcommand: evaluate the fraud model against logistic and rules baselines."""
    if ctx.invoked_subcommand is not None:
        return
    if data is None:
        raise typer.BadParameter("Missing option '--data' (or name a subcommand: fraud, installment).")
    _evaluate_fraud(data, out, prequential, k, test_days, delay_days, valid_days, calib_days, warmup_days,
                    rounds, top_features, features, threads, imbalance)


@evaluate_app.command("fraud")
def evaluate_fraud_command(
    data: Path = DATA,
    out: Path = OUT,
    prequential: int = PREQUENTIAL,
    k: int = typer.Option(100, help="k of Card Precision@k."),
    test_days: int = TEST_DAYS,
    delay_days: int = DELAY_DAYS,
    valid_days: int = VALID_DAYS,
    calib_days: int = CALIB_DAYS,
    warmup_days: int = WARMUP_DAYS,
    rounds: int = ROUNDS,
    top_features: int = TOP,
    features: str = FEATURES,
    threads: int = THREADS,
    imbalance: str = IMBALANCE,
) -> None:
    """Evaluate the fraud model against logistic and rules baselines (评估欺诈模型)."""
    _evaluate_fraud(data, out, prequential, k, test_days, delay_days, valid_days, calib_days, warmup_days,
                    rounds, top_features, features, threads, imbalance)


@models_app.command("list")
def list_command(name: str = typer.Argument(None, help="Only this model.")) -> None:
    """Every stored model version with its stage and headline test metrics."""
    from cardmind.models.registry import Registry

    records = Registry().list(name)
    if not records:
        typer.echo("no models registered yet (train one: cardmind train fraud --data DIR)")
        return
    typer.echo(f"{'name':<12} {'version':<8} {'stage':<11} {'created_at':<26} metrics")
    for r in records:
        met = " ".join(
            f"{k}={r.metrics[k]:.3f}"
            for k in ("auc", "ap", "cp_at_k", "recall_at_fpr")
            if isinstance(r.metrics.get(k), float)
        )
        typer.echo(f"{r.name:<12} {r.version:<8} {r.stage:<11} {r.created_at[:25]:<26} {met}")


@models_app.command("describe")
def describe_command(
    name: str = typer.Argument(..., help="Model name, e.g. fraud."),
    version: str = typer.Argument("latest", help="v0001, latest or production."),
) -> None:
    """Print a version's metadata (feature service, window, fingerprint, parameters, metrics)."""
    from cardmind.models.registry import Registry

    meta = Registry().describe(name, version)
    meta.pop("feature_texts", None)
    typer.echo(json.dumps(meta, indent=2, ensure_ascii=False))


@models_app.command("promote")
def promote_command(
    name: str = typer.Argument(..., help="Model name."),
    version: str = typer.Argument(..., help="Version to promote, e.g. v0002."),
    stage: str = typer.Option("production", help="production or staging."),
) -> None:
    """Mark a version as the production (or staging) one for its name."""
    from cardmind.models.registry import Registry

    Registry().promote(name, version, stage)
    typer.echo(f"{name} {version} is now {stage}")
