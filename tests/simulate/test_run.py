"""Determinism, presets and overrides, and the summary."""

from __future__ import annotations

import json

import pytest

from cardmind.dataset import Dataset
from cardmind.errors import InvalidInput
from cardmind.simulate import SimulationConfig, describe, load_preset, simulate
from cardmind.simulate.config import PRESETS, parse_overrides
from cardmind.simulate.engine import SIMULATED_TABLES
from cardmind.simulate.scenarios import SCENARIO_TYPES

SMALL = {"population.cards": 150, "period.months": 2}


def _tables(path):
    ds = Dataset(path)
    return {name: ds.read(name) for name in SIMULATED_TABLES}


def test_same_seed_gives_identical_output_and_another_seed_does_not(tmp_path, tiny_dataset):
    again = simulate(load_preset("tiny", seed=0), tmp_path / "again")
    a, b = _tables(tiny_dataset), _tables(tmp_path / "again")
    for name in SIMULATED_TABLES:
        assert a[name].equals(b[name]), name
    manifest = json.loads((tmp_path / "again" / "manifest.json").read_text())
    assert manifest == Dataset(tiny_dataset).manifest
    assert again.authorizations == a["authorizations"].num_rows
    other = simulate(load_preset("tiny", seed=1, overrides=SMALL), tmp_path / "other")
    assert other.authorizations != again.authorizations


def test_presets_and_their_sizes():
    assert set(PRESETS) == {"tiny", "demo", "bench"}
    demo, bench = load_preset("demo"), load_preset("bench")
    assert demo.population.cards == 10_000 and demo.period.months == 6
    assert bench.population.cards == 100_000 and bench.period.months == 12
    assert demo.period.start == "2025-11-01"  # covers 11.11 and the 2026 Spring Festival


def test_every_parameter_can_be_overridden_with_its_type():
    cfg = load_preset(
        "tiny",
        overrides={
            "scenarios.cashout_app.ring_size": "8",
            "scenarios.cashout_app.fee_rate": "0.005",
            "spending.travel_rate": 0.1,
            "period.start": "2026-01-01",
        },
    )
    assert cfg.scenarios.cashout_app.ring_size == 8
    assert cfg.scenarios.cashout_app.fee_rate == 0.005
    assert cfg.spending.travel_rate == 0.1
    assert cfg.period.start == "2026-01-01"
    flat = cfg.flat()
    assert all(f"scenarios.{name}." in " ".join(flat) for name in SCENARIO_TYPES)
    for key, value in flat.items():  # round trip through the string form the CLI uses
        if key not in ("preset", "seed"):
            assert load_preset("tiny", overrides={key: str(value)}).flat()[key] == value


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"population.cards": "-1"}, "population.cards: cards must be >= 0"),
        ({"scenarios.nope.rate": "1"}, "unknown scenario 'nope'"),
        ({"scenarios.lost_stolen.rate": "1.5"}, "is a probability"),
        ({"scenarios.lost_stolen.auths_min": "20"}, "auths_min (20) must be <= auths_max"),
        ({"population.cardz": "1"}, "unknown parameter 'population.cardz'"),
        ({"population.cards": "many"}, "expected int"),
        ({"period.start": "2025-11-15"}, "first day of a month"),
        ({"period.months": "0"}, "months must be in 1..36"),
        ({"seed": "3"}, "set it with --preset / --seed"),
        ({"scenarios.cashout_app.ring_categories": "dining,casino"}, "unknown ring category 'casino'"),
        ({"scenarios.cashout_app.ring_categories": " , "}, "at least one category"),
    ],
)
def test_invalid_parameters_raise_invalid_input(overrides, message):
    with pytest.raises(InvalidInput) as info:
        load_preset("tiny", overrides=overrides)
    assert message in str(info.value)


def test_unknown_preset_negative_seed_and_bad_set_syntax():
    with pytest.raises(InvalidInput, match="unknown preset 'huge'"):
        load_preset("huge")
    with pytest.raises(InvalidInput, match="seed must be an integer >= 0"):
        load_preset("tiny", seed=-1)
    with pytest.raises(InvalidInput, match="NAME=VALUE"):
        parse_overrides(["ring_size"])
    assert parse_overrides(["a.b = 2"]) == {"a.b": "2"}


def test_simulate_refuses_an_unwritable_folder_and_leaves_nothing(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InvalidInput, match=r"cannot write here|not a folder"):
        simulate(load_preset("tiny", overrides=SMALL), blocker / "out")
    with pytest.raises(InvalidInput, match="not a folder"):
        simulate(load_preset("tiny", overrides=SMALL), blocker)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.txt").write_text("keep me")
    with pytest.raises(InvalidInput, match="not a cardmind dataset; refusing"):
        simulate(load_preset("tiny", overrides=SMALL), precious)
    assert (precious / "thesis.txt").read_text() == "keep me"
    with pytest.raises(InvalidInput, match="SimulationConfig"):
        simulate({"preset": "tiny"}, tmp_path / "x")  # type: ignore[arg-type]
    assert isinstance(load_preset("tiny"), SimulationConfig)


def test_summary_of_the_tiny_dataset(tiny_dataset):
    s = describe(tiny_dataset)
    d = s.to_dict()
    assert d["preset"] == "tiny" and d["authorizations"] > 10_000
    assert set(d["scenarios"]) == set(SCENARIO_TYPES)
    assert 5 < s.auths_per_active_card_month < 40
    spend = s.spend_per_active_card_month_yuan
    assert spend["p10"] < spend["median"] < spend["p90"]
    assert 0 < s.decline_rate < 0.15 and 0 < s.over_limit_decline_rate <= s.decline_rate
    assert 0 < s.cashout_share < 0.3
    assert 0 < s.delinquency_90_rate < 0.1
    assert 0.05 < s.utilisation < 0.8
    assert 0.02 < s.installment_penetration < 0.8
    assert s.applications["approval_rate"] == pytest.approx(0.5, abs=0.05)
    text = str(s)
    assert "fraud rate" in text and "cashout_app" in text and "installment penetration" in text
    with pytest.raises(InvalidInput, match="not a cardmind dataset"):
        describe(tiny_dataset.parent)


def test_a_failure_mid_run_leaves_nothing_behind(tmp_path, monkeypatch):
    import cardmind.simulate.engine as engine

    real = engine.genuine_month
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk on fire")
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "genuine_month", failing)
    with pytest.raises(RuntimeError, match="disk on fire"):
        simulate(load_preset("tiny", overrides=SMALL), tmp_path / "ds")
    assert list(tmp_path.iterdir()) == []
