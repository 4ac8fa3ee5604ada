"""``cardmind cashout``: cash-out defence (代还/套现) — train, detect, rings, evaluate, warn, plan."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from cardmind.cli import app

cashout = typer.Typer(
    help="Cash-out defence (代还/套现): detect cycling, find merchant rings, warn customers.",
    no_args_is_help=True,
)
app.add_typer(cashout, name="cashout")

Data = Annotated[
    Path, typer.Option("--data", help="Dataset folder (from `cardmind simulate` or ingest).")
]
Model = Annotated[
    Path | None,
    typer.Option("--model", help="Detector folder (default $CARDMIND_HOME/cashout/detector)."),
]

AsOf = Annotated[
    str | None,
    typer.Option(
        "--as-of", help="Use only events up to this time (ISO, Asia/Shanghai if no offset)."
    ),
]


def _as_of(text: str | None):
    """``--as-of`` as a tz-aware datetime (InvalidInput when it is not an ISO date-time)."""
    if text is None:
        return None
    from datetime import datetime

    from cardmind.errors import InvalidInput
    from cardmind.units import TZ

    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"--as-of: not an ISO date-time: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=TZ)


def _dataset(path: Path):
    from cardmind.dataset import Dataset

    return Dataset(path)


def _detector(model: Path | None, ds):
    """The saved detector; trained on ``ds`` (and saved) when none exists and ``ds`` has truth."""
    from cardmind.errors import InvalidInput
    from cardmind.models.cashout import pipeline
    from cardmind.models.cashout.detector import CashoutDetector

    folder = model or pipeline.default_model_dir()
    if (folder / "metadata.json").is_file():
        return CashoutDetector.load(folder)
    if model is not None:
        raise InvalidInput(f"{folder}: no saved detector (run `cardmind cashout train`)")
    if not ds.has("truth_authorizations"):
        raise InvalidInput(
            f"no trained detector at {folder}; train one on simulated data first: "
            "`cardmind cashout train --data SIMULATED_DIR`"
        )
    typer.echo(f"no detector at {folder}: training one on this dataset's labels ...", err=True)
    det = pipeline.train(ds)
    det.save(folder)
    return det


@cashout.command("train")
def train_command(data: Data, model: Model = None) -> None:
    """Train the detector on a simulated dataset and save it (LightGBM text + JSON)."""
    from cardmind.models.cashout import pipeline

    ds = _dataset(data)
    det = pipeline.train(ds)
    folder = model or pipeline.default_model_dir()
    det.save(folder)
    m = det.metrics_
    typer.echo(f"saved detector to {folder} (threshold {det.threshold_:.4f}, "
               f"{det.training_rows_} training rows; out-of-fold card-cycle precision "
               f"{m['precision']:.3f}, recall {m['recall']:.3f})")  # fmt: skip


@cashout.command("detect")
def detect_command(
    data: Data,
    out: Annotated[
        Path, typer.Option("--out", help="Per card-cycle results (.parquet/.csv/.jsonl).")
    ],
    model: Model = None,
    risk_out: Annotated[
        Path | None,
        typer.Option(
            "--risk-out", help="Also write the per-card risk table for authorization (.parquet)."
        ),
    ] = None,
    as_of: AsOf = None,
) -> None:
    """Score every card-cycle; alerts carry rules and reasons in English and 中文."""
    from cardmind.models.cashout import pipeline

    when = _as_of(as_of)
    ds = _dataset(data)
    det = _detector(model, ds)
    result = pipeline.detect(ds, det, as_of=when)
    for notice in result.notices:
        typer.echo(notice, err=True)
    pipeline.write_table(result.cycles, out)
    if risk_out is not None:
        result.risk.save(risk_out)
    n_alert = result.alerts.num_rows
    typer.echo(f"{result.cycles.num_rows} card-cycles scored ({result.rows_scored} scoring points), "
               f"{n_alert} alerts -> {out}")  # fmt: skip


@cashout.command("rings")
def rings_command(
    data: Data,
    model: Model = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the suspect-merchant list as JSON.")
    ] = None,
    method: Annotated[str, typer.Option(help="louvain or label_propagation.")] = "louvain",
    as_of: AsOf = None,
) -> None:
    """Find communities of colluding merchants and print the suspect-merchant list."""
    from cardmind.errors import InvalidInput
    from cardmind.models.cashout import pipeline
    from cardmind.models.cashout.rings import RingConfig

    try:
        cfg = RingConfig(method=method)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    ds = _dataset(data)
    det = _detector(model, ds)
    when = _as_of(as_of)
    detection = pipeline.detect(ds, det, as_of=when)
    for notice in detection.notices:
        typer.echo(notice, err=True)
    report = pipeline.rings(ds, detection, config=cfg, as_of=when)
    g = report.graph
    typer.echo(f"{g['suspect_card_cycles']} suspect card-cycles, {g['candidate_merchants']} "
               f"candidate merchants, {g['edges']} edges, {len(report.rings)} rings "
               f"({g['method']}, {g['community_seconds'] * 1000:.1f} ms)")  # fmt: skip
    for ring in report.rings:
        en, zh = ring.evidence_text()
        typer.echo(f"  {en}\n  {zh}\n  merchants: {', '.join(ring.merchant_ids)}")
    entries = report.suspect_list()
    if ds.has("truth_episodes"):
        from cardmind.models.cashout.evaluation import ring_metrics

        m = ring_metrics(ds, [e["value"] for e in entries])
        typer.echo(f"against the simulator's truth: merchant precision {m['precision']:.3f}, "
                   f"recall {m['recall']:.3f} ({m['tp']}/{m['colluding_merchants']})")  # fmt: skip
    if out is not None:
        try:
            out.write_text(json.dumps(entries, ensure_ascii=False, indent=2))
        except OSError as exc:
            raise InvalidInput(f"{out}: cannot write ({exc.strerror})") from exc
        typer.echo(f"{len(entries)} suspect merchants -> {out}")


def _simulate(preset: str, seed: int, overrides: dict[str, str], out: Path) -> None:
    """Run ``cardmind simulate`` in a child process (the simulator is data only)."""
    from cardmind.errors import InvalidInput

    args = [sys.executable, "-c", "from cardmind.cli import main; main()", "simulate",
            "--preset", preset, "--seed", str(seed), "--out", str(out)]  # fmt: skip
    for k, v in overrides.items():
        args += ["--set", f"{k}={v}"]
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise InvalidInput(f"simulate {preset} {overrides}: {last}")


@cashout.command("evaluate")
def evaluate_command(
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Simulated dataset (train on early cycles, test on late)."),
    ] = None,
    model: Model = None,
    robustness: Annotated[
        bool,
        typer.Option("--robustness", help="Train on the default settings, test on unseen ones."),
    ] = False,
    preset: Annotated[
        str, typer.Option(help="Simulator preset for --robustness (tiny or demo).")
    ] = "tiny",
    seed: Annotated[int, typer.Option(help="Seed of the training dataset for --robustness.")] = 0,
    work: Annotated[
        Path | None, typer.Option("--work", help="Folder for the generated datasets.")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write the report as JSON (--robustness default: "
            "$CARDMIND_HOME/reports/cashout-robustness.json).",
        ),
    ] = None,
) -> None:
    """Precision and recall per card-cycle, time to detection, and (--robustness) recall per
    unseen simulator setting."""
    import tempfile

    from cardmind.errors import InvalidInput
    from cardmind.models.cashout import robustness as rb
    from cardmind.models.cashout.detector import CashoutDetector
    from cardmind.models.cashout.evaluation import evaluate

    if robustness:
        root = work or Path(tempfile.mkdtemp(prefix="cardmind-cashout-"))

        def make(name: str, overrides: dict[str, str], seed_: int):
            path = root / name
            if not (path / "manifest.json").is_file():
                typer.echo(f"simulating {name} {overrides or ''} ...", err=True)
                _simulate(preset, seed_, overrides, path)
            return _dataset(path)

        report = rb.run(make, seed=seed, progress=lambda m: typer.echo(m, err=True))
        typer.echo(report.table())
        payload = report.to_dict()
        if out is None:
            from cardmind.settings import get_settings

            out = get_settings().home / "reports" / "cashout-robustness.json"
            out.parent.mkdir(parents=True, exist_ok=True)
    else:
        if data is None:
            raise InvalidInput("give --data DIR, or --robustness")
        ds = _dataset(data)
        det = CashoutDetector.load(model) if model is not None else None
        result, _ = evaluate(ds, detector=det)
        typer.echo(result.table())
        payload = result.to_dict()
    if out is not None:
        try:
            out.write_text(json.dumps(payload, ensure_ascii=False, indent=2, default=str))
        except OSError as exc:
            raise InvalidInput(f"{out}: cannot write ({exc.strerror})") from exc
        typer.echo(f"report -> {out}")


@cashout.command("warning")
def warning_command(
    lang: Annotated[str, typer.Option(help="zh, en or both.")] = "both",
) -> None:
    """Print the customer warning about 代还 apps (简体中文 / English)."""
    from cardmind.decisions.cashout_warning import cashout_warning

    typer.echo(cashout_warning().text(lang))


@cashout.command("plan")
def plan_command(
    balance: Annotated[str, typer.Option(help="Statement balance in yuan, e.g. 12000.00.")],
    capacity: Annotated[str, typer.Option(help="What the customer can repay a month, in yuan.")],
    fee_rate_bp: Annotated[
        int, typer.Option(help="Installment fee per month in basis points.")
    ] = 60,
) -> None:
    """A legal repayment plan (账单分期 / 还款计划) for a customer who cannot pay in full."""
    from cardmind.decisions.cashout_warning import plan_repayment
    from cardmind.units import format_cny, yuan_to_fen

    plan = plan_repayment(
        balance_fen=yuan_to_fen(balance),
        monthly_capacity_fen=yuan_to_fen(capacity),
        fee_rate_bp=fee_rate_bp,
    )
    typer.echo(plan.note_zh)
    typer.echo(plan.note_en)
    for p in plan.schedule:
        typer.echo(f"  {p.month:>2}  principal {format_cny(p.principal_fen):>14}  "
                   f"fee {format_cny(p.fee_fen):>10}  pay {format_cny(p.payment_fen):>14}")  # fmt: skip
