import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from cardmind.errors import InvalidInput, NotFittedError
from cardmind.models.cashout.detector import CashoutDetector, DetectorParams
from cardmind.models.cashout.features import card_cycle_features


def test_unfitted_detector_refuses_to_score(cashout_ds):
    with pytest.raises(NotFittedError):
        CashoutDetector().score_many(card_cycle_features(cashout_ds))


def test_fit_needs_both_classes(fitted):
    _, features, labels = fitted
    with pytest.raises(InvalidInput, match="both"):
        CashoutDetector().fit(features, np.zeros(len(labels)))
    with pytest.raises(InvalidInput, match="labels for"):
        CashoutDetector().fit(features, labels[:-1])


def test_scores_separate_cashout_rows(fitted):
    det, features, labels = fitted
    scored = det.score_many(features)
    s = scored.column("score").to_numpy()
    assert s[labels == 1].mean() > 0.5 > s[labels == 0].mean()
    alert = scored.column("alert").to_numpy(zero_copy_only=False)
    assert alert[labels == 0].mean() < 0.02
    # every cash-out card-cycle alerts by its end (rows just after onset may not yet)
    keys = [
        f"{t}|{c}"
        for t, c in zip(
            scored.column("card_token").to_pylist(),
            scored.column("cycle_end").to_pylist(),
            strict=True,
        )
    ]
    positive = {k for k, y in zip(keys, labels, strict=True) if y}
    alerted = {k for k, a in zip(keys, alert, strict=True) if a}
    assert positive and positive <= alerted
    assert 0 < det.threshold_ < 1


def test_save_load_round_trip_is_text_only_and_identical(fitted, tmp_path):
    det, features, _ = fitted
    det.save(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "metadata.json",
        "model.txt",
        "model_reduced.txt",
    ]
    back = CashoutDetector.load(tmp_path / "m")
    assert back.metrics_ == det.metrics_ and 0 < det.metrics_["recall"] <= 1
    a, b = det.score_many(features), back.score_many(features)
    np.testing.assert_allclose(a.column("score").to_numpy(), b.column("score").to_numpy())
    assert a.column("rules").to_pylist() == b.column("rules").to_pylist()


def test_load_refuses_what_is_not_a_detector(tmp_path):
    with pytest.raises(InvalidInput, match="not a saved cash-out detector"):
        CashoutDetector.load(tmp_path)


def test_reduced_rows_use_the_reduced_model_and_skip_repayment_rules(
    fitted, cashout_ds_no_repayments
):
    det, _, _ = fitted
    reduced = card_cycle_features(cashout_ds_no_repayments)
    scored = det.score_many(reduced)
    assert all(scored.column("reduced_features").to_pylist())
    repayment_rules = {r.name for r in det.rules_ if r.needs_repayments}
    fired = {name for row in scored.column("rules").to_pylist() for name in row}
    assert not fired & repayment_rules
    expected = det.booster_reduced_.predict(
        np.column_stack(
            [
                reduced.column(n).to_numpy(zero_copy_only=False).astype(float)
                for n in det.booster_reduced_.feature_name()
            ]
        )
    )
    np.testing.assert_allclose(scored.column("score").to_numpy(), expected)


def test_reasons_name_features_in_both_languages(fitted):
    det, features, labels = fitted
    idx = int(np.nonzero(labels)[0][-1])
    reasons = det.reasons(features.take(pa.array([idx])))[0]
    assert reasons and all(r["en"] and r["zh"] and r["feature"] for r in reasons)


def test_params_are_validated():
    with pytest.raises(ValueError, match="folds"):
        DetectorParams(folds=1)
    with pytest.raises(ValueError, match="negative_row_fraction"):
        DetectorParams(negative_row_fraction=0)


def test_mixed_full_and_reduced_rows(fitted, cashout_ds_no_repayments):
    det, features, _ = fitted
    reduced = card_cycle_features(cashout_ds_no_repayments)
    both = pa.concat_tables([features.slice(0, 50), reduced.slice(0, 50)])
    out = det.score_many(both)
    flags = out.column("reduced_features").to_pylist()
    assert flags == [False] * 50 + [True] * 50
    assert pc.min(out.column("score")).as_py() >= 0
