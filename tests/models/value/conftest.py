import pytest

from cardmind.models.value.metrics import monthly_metrics


@pytest.fixture(scope="session")
def tiny_metrics(tiny_dataset):
    return monthly_metrics(tiny_dataset)
