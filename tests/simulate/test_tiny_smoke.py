from cardmind.dataset import Dataset
from cardmind.simulate.engine import SIMULATED_TABLES


def test_tiny_dataset_has_every_simulated_table(tiny_dataset):
    ds = Dataset(tiny_dataset)
    assert set(SIMULATED_TABLES) <= set(ds.tables())
    assert ds.manifest["preset"] == "tiny"
    assert ds.read("authorizations").num_rows > 10_000
