"""A bank import with only the minimum columns (transaction id, card id, merchant id, amount,
timestamp, fraud label) trains a fraud model end to end: features needing absent columns (mcc,
cross border, channel, device, ...) are skipped with a notice instead of failing the build."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta

import yaml
from typer.testing import CliRunner

from cardmind.cli import _register, app
from cardmind.ingest import Mapping, ingest
from cardmind.models.registry import Registry

_register()


def _minimum_export(root, n=1500, days=30, seed=0):
    """A CSV with the minimum columns; fraud concentrates on a few merchants at high amounts."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        ts = datetime(2024, 5, 1) + timedelta(seconds=rng.randrange(days * 86_400))
        fraud = rng.random() < 0.08
        hot = fraud and rng.random() < 0.7
        merchant = f"m{rng.randrange(5) if hot else rng.randrange(5, 60)}"
        amount = rng.uniform(500, 5000) if fraud else rng.uniform(5, 800)
        rows.append((ts, f"t{i}", f"c{rng.randrange(150)}", merchant, amount, int(fraud)))
    rows.sort()
    lines = ["id,card,merchant,amount,time,is_fraud"] + [
        f"{a},{c},{m},{x:.2f},{t:%Y-%m-%d %H:%M:%S},{f}" for t, a, c, m, x, f in rows
    ]
    (root / "tx.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    mapping = {
        "tables": {
            "authorizations": {
                "source": "tx.csv",
                "columns": {
                    "auth_id": "id",
                    "customer_id": "card",
                    "merchant_id": "merchant",
                    "amount_fen": {"from": "amount", "unit": "yuan"},
                    "ts": "time",
                },
            },
            "fraud_labels": {
                "source": "tx.csv",
                "label_delay": "1d",
                "columns": {
                    "auth_id": "id",
                    "label": {"from": "is_fraud", "values": {"1": "fraud", "0": "genuine"}},
                },
            },
        }
    }
    path = root / "mapping.yaml"
    path.write_text(yaml.safe_dump(mapping), encoding="utf-8")
    return path


def test_minimum_import_trains_a_fraud_model(tmp_path, cardmind_home):
    data = tmp_path / "ds"
    report = ingest(Mapping.load(_minimum_export(tmp_path)), data)
    assert report.rejected == 0
    out = CliRunner().invoke(
        app,
        ["train", "fraud", "--data", str(data), "--features", "compact",
         "--test-days", "5", "--delay-days", "2", "--valid-days", "5", "--calib-days", "5",
         "--warmup-days", "1", "--rounds", "30", "--top-features", "10"],
    )
    assert out.exit_code == 0, out.output + repr(out.exception)
    assert "registered fraud v0001" in out.output
    assert "feature skipped: req_is_cross_border" in out.output
    assert "lacks request columns ['mcc']" in out.output
    metrics = json.loads(out.output.strip().splitlines()[-1])
    assert metrics["auc"] > 0.8  # amount and merchant history carry the signal
    meta = Registry(cardmind_home / "models").describe("fraud", "v0001")
    assert not {"req_is_cross_border", "req_category_grocery"} & set(meta["feature_names"])
