import importlib.util
from pathlib import Path

import pytest

from cardmind.dataset import Dataset
from cardmind.errors import InvalidInput
from cardmind.models.cashout.detector import DetectorParams
from cardmind.models.cashout.robustness import DEFAULT_VARIANTS, Variant, run

_spec = importlib.util.spec_from_file_location(
    "cashout_synthetic", Path(__file__).with_name("cashout_synthetic.py")
)
synthetic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(synthetic)


def test_recall_per_unseen_setting_and_refused_settings_are_reported(tmp_path):
    made = []

    def make(name, overrides, seed):
        made.append((name, overrides, seed))
        if "refuse" in overrides:
            raise InvalidInput("unknown parameter 'refuse'")
        ring = int(overrides.get("ring_size", 5))
        return Dataset(synthetic.build(tmp_path / name, seed=seed, n_cards=40, ring_size=ring))

    variants = (
        Variant(name="ring_two", trait="ring size", overrides={"ring_size": "2"}),
        Variant(name="bogus", trait="nothing", overrides={"refuse": "1"}),
    )
    report = run(make, variants=variants, seed=3, params=DetectorParams(num_boost_round=20))
    assert [m[0] for m in made] == ["train", "default", "ring_two", "bogus"]
    assert len({m[2] for m in made}) == 4  # every dataset has its own seed
    rows = {r["setting"]: r for r in report.rows}
    assert rows["default"]["recall"] >= 0.8
    assert 0 <= rows["ring_two"]["recall"] <= 1 and rows["ring_two"]["positive_cycles"] > 0
    assert "unknown parameter" in rows["bogus"]["error"]
    text = report.table()
    assert "ring_two" in text and "not run" in text
    assert report.to_dict()["settings"][0]["setting"] == "default"


def test_default_variants_cover_every_trait_of_the_issue():
    traits = {v.trait for v in DEFAULT_VARIANTS}
    assert {"ring size", "fee", "cycling speed", "share kept free", "merchant categories"} <= traits
    for v in DEFAULT_VARIANTS:
        assert all(k.startswith("scenarios.") for k in v.overrides)


def test_variant_names_are_identifiers():
    with pytest.raises(ValueError, match="identifier"):
        Variant(name="a b", overrides={})


def test_default_variants_are_settings_the_simulator_accepts():
    # the CLI imports the simulator; models never do, so the check lives in the test
    from cardmind.simulate import load_preset

    default = load_preset("tiny").flat()
    for v in DEFAULT_VARIANTS:
        flat = load_preset("tiny", overrides=v.overrides).flat()
        for key in v.overrides:
            assert flat[key] != default[key], (v.name, key)  # each really changes a setting
