"""``cardmind report quality`` and ``cardmind value tiers``: customer value from the command line."""

from __future__ import annotations

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


report_app = _group("report", "Write reports (报告).")
train_app = _group("train", "Train models (训练模型).")
installment_app = _group("installment", "Installment propensity (分期推荐).")
evaluate_app = _group("evaluate", "Evaluate models (评估模型).")
DATA = typer.Option(..., "--data", help="Dataset folder (simulated or imported).")
TIERS = typer.Option(None, "--tiers", help="Tier rules YAML (default: packaged tiers.yaml).")
CONFIG = typer.Option(None, "--config", help="Profit parameters YAML (default: packaged value.yaml).")
HTML_OUT = typer.Option(..., "--out", help="HTML file to write.")
PARQUET_OUT = typer.Option(..., "--out", help="Parquet file to write (customer_id, tier, value, context).")
MODEL_OUT = typer.Option(None, "--out", help="Model folder (default: $CARDMIND_HOME/models/installment).")
INDEX_OUT = typer.Option(None, "--out", help="Index file (default: $CARDMIND_HOME/serve/installment-index.duckdb).")
value_app = typer.Typer(help="Customer value and tiers (客户价值分层).", no_args_is_help=True)
app.add_typer(value_app, name="value")


@report_app.command("quality")
def report_quality(
    data: Path = DATA,
    out: Path = HTML_OUT,
    tiers: Path = TIERS,
    config: Path = CONFIG,
) -> None:
    """How many purchases a month make a quality customer (HTML report with charts)."""
    from cardmind.models.value.config import load_value_config
    from cardmind.models.value.metrics import monthly_metrics
    from cardmind.models.value.quality import render_html, study
    from cardmind.models.value.tiers import load_tiers

    cfg, rules = load_value_config(config), load_tiers(tiers)
    s = study(monthly_metrics(data), cfg=cfg, rules=rules)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(s, source=str(data)), encoding="utf-8")
    en, _ = s.answer()
    typer.echo(en)
    typer.echo(f"report written to {out}")


@value_app.command("tiers")
def value_tiers(
    data: Path = DATA,
    out: Path = PARQUET_OUT,
    tiers: Path = TIERS,
    config: Path = CONFIG,
) -> None:
    """Assign every customer a value tier from the realised profit of all observed months."""
    from cardmind.models.value.config import load_value_config
    from cardmind.models.value.metrics import monthly_metrics
    from cardmind.models.value.tiers import assign_population, load_tiers

    result = assign_population(monthly_metrics(data), load_value_config(config), load_tiers(tiers))
    out.parent.mkdir(parents=True, exist_ok=True)
    result.to_parquet(out, index=False)
    for tier, n in result["tier"].value_counts().items():
        typer.echo(f"{tier:<12} {n:>9,}")
    typer.echo(f"tiers written to {out}")


SCHEME = typer.Option("out_of_time", "--scheme", help="out_of_time (earlier window -> later window, held-out "
                      "customers) or random_customers (same window, random customer split).")


@value_app.command("evaluate")
def value_evaluate(data: Path = DATA, config: Path = CONFIG, scheme: str = SCHEME) -> None:
    """Forward-value model vs "past profit continues" on held-out customers (out of time by default)."""
    from cardmind.dataset import Dataset
    from cardmind.models.value.config import load_value_config
    from cardmind.models.value.metrics import monthly_metrics
    from cardmind.models.value.model import evaluate_value

    ds = Dataset(data)
    latent = None
    if ds.has("truth_customers"):  # evaluation only: the simulator's latent value trait
        latent = ds.read("truth_customers", ["customer_id", "value"]).to_pandas().set_index("customer_id")["value"]
    from cardmind.errors import InvalidInput

    try:
        result = evaluate_value(monthly_metrics(ds), load_value_config(config), latent=latent, scheme=scheme)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    typer.echo(f"scheme: {scheme}")
    for name, m in result.items():
        typer.echo(f"{name:<12} " + "  ".join(f"{k} {v:,.3f}" for k, v in m.items()))


@train_app.command("installment")
def train_installment(
    data: Path = DATA,
    out: Path = MODEL_OUT,
    index: bool = typer.Option(True, help="Also write the offer index of this dataset for the API."),
) -> None:
    """Train the installment propensity model on the whole offer log (LightGBM text model + JSON)."""
    from cardmind.decisions.installment_offer import build_offer_index, default_index_path
    from cardmind.models.installment import InstallmentModel, offer_table
    from cardmind.settings import get_settings

    t = offer_table(data)
    model = InstallmentModel().fit(t, t["accepted"].astype(int))
    folder = out or get_settings().home / "models" / "installment"
    model.save(folder, metadata={"trained_on": str(data), "n_offers": len(t), "accept_rate": float(t["accepted"].mean()),
                                 "pd": t.attrs.get("pd_info", {})})
    typer.echo(f"trained on {len(t):,} logged offers ({t['accepted'].mean():.1%} accepted); saved to {folder}")
    if index:
        meta = build_offer_index(data, default_index_path())
        typer.echo(f"offer index of {meta['sources']:,} purchases and statements written to {default_index_path()}")


@installment_app.command("index")
def installment_index(data: Path = DATA, out: Path = INDEX_OUT) -> None:
    """Write the offer index the API reads (one DuckDB file; point lookups by id)."""
    from cardmind.decisions.installment_offer import build_offer_index, default_index_path

    path = out or default_index_path()
    meta = build_offer_index(data, path)
    typer.echo(f"{meta['sources']:,} purchases and statements indexed in {meta['build_seconds']} s "
               f"(PD: {meta['pd']['pd_source']}); written to {path}")


def _evaluate_installment(data: Path, offer_share: float) -> None:
    from cardmind.models.installment import evaluate_installment, evaluation_table

    typer.echo(evaluation_table(evaluate_installment(data, offer_share=offer_share)))


SHARE = typer.Option(0.2, "--offer-share", help="Share of the test candidates each policy may make an offer to.")


@evaluate_app.command("installment")
def evaluate_installment_command(data: Path = DATA, offer_share: float = SHARE) -> None:
    """Installment offers: the model choosing terms vs "offer everyone above amount X" (simulator truth)."""
    _evaluate_installment(data, offer_share)


@installment_app.command("evaluate")
def installment_evaluate_command(data: Path = DATA, offer_share: float = SHARE) -> None:
    """Same as ``cardmind evaluate installment``."""
    _evaluate_installment(data, offer_share)
