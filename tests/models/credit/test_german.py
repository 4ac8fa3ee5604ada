"""German credit (real data): champion and challenger, 5-fold CV, fairness table."""

from __future__ import annotations

import numpy as np
import pytest

from cardmind.models.credit.german import PROTECTED, frame_from_dataset, german_frame_from_csv
from cardmind.models.credit.training import train_application_models


@pytest.fixture(scope="module")
def report(german):
    X, y, protected = german
    return train_application_models(X, y, protected=protected, n_splits=5, seed=0)


def test_import_path_keeps_protected_attributes_apart(german):
    X, y, protected = german
    assert len(X) == 1000 and y.sum() == 300
    assert set(PROTECTED) == set(protected.columns)
    assert not set(PROTECTED) & set(X.columns)
    assert "application_id" not in X.columns and "decision" not in X.columns
    assert len(X.columns) == 18  # the 20 attributes less the two protected ones


def test_import_path_matches_the_raw_file(german, german_csv):
    X, y, _ = german
    raw_X, raw_y, _ = german_frame_from_csv(german_csv)
    assert np.array_equal(y, raw_y)
    assert X["duration_in_month"].tolist() == raw_X["duration_in_month"].tolist()
    assert X["age"].tolist() == raw_X["age_in_years"].tolist()


def test_dataset_without_outcomes_is_refused(tmp_path):
    import pyarrow as pa

    from cardmind.dataset import DatasetWriter
    from cardmind.errors import InvalidInput

    with DatasetWriter(tmp_path / "ds", manifest={"source": "test"}) as w:
        w.write(
            "fraud_labels",
            pa.table(
                {
                    "auth_id": ["a"],
                    "card_token": ["t"],
                    "label": ["fraud"],
                    "reported_at": pa.array([0], pa.timestamp("us", tz="UTC")),
                }
            ),
        )
    with pytest.raises(InvalidInput, match="applications"):
        frame_from_dataset(tmp_path / "ds")


def test_models_never_use_protected_attributes(report):
    for name in PROTECTED:
        assert name not in report.champion.feature_names_
        assert name not in report.challenger.feature_names_


def test_cross_validated_auc_and_ks_are_reported_for_both_models(report):
    for key in ("champion_scorecard", "challenger_lightgbm"):
        cv = report.cv[key]
        assert len(cv.fold_auc) == 5 and not np.isnan(cv.oof).any()
        assert cv.auc_mean > 0.74, f"{key} AUC {cv.auc_mean:.3f} below literature level"
        assert 0.3 < cv.ks_mean < 0.7


def test_accuracy_is_comparable_with_published_logistic_regression(report):
    # Published: logistic regression about 0.75 (10-fold); we require the same ballpark.
    assert report.accuracy_at_half["champion_scorecard"] == pytest.approx(0.75, abs=0.03)


def test_cost_based_cutoff_beats_approving_everyone(report, german):
    _, y, _ = german
    approve_all_cost = 5 * y.sum() / len(y)
    assert report.expected_cost < approve_all_cost
    assert report.bad_rate_approved < y.mean()


def test_fairness_table_covers_every_group_of_both_attributes(report, german):
    _, _, protected = german
    fair = report.fairness
    for col in PROTECTED:
        sub = fair[fair.attribute == col]
        assert set(sub.group) == set(protected[col].unique())
        assert sub.n.sum() == 1000
        assert sub.ratio_to_max.max() == pytest.approx(1.0)
    assert ((fair.approval_rate >= 0) & (fair.approval_rate <= 1)).all()


def test_training_refuses_protected_columns_in_x(german):
    X, y, protected = german
    with pytest.raises(ValueError, match="protected attributes must not be in X"):
        train_application_models(X.join(protected), y)
