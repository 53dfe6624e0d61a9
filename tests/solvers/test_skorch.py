"""The batch loader and dataset (``_solvers/_skorch.py``) against PyTorch's and
skorch's own, row by row."""

import numpy as np
import pytest
import torch
from skorch.dataset import Dataset
from torch.utils.data import DataLoader

from sklearn_attnpoly._solvers._skorch import BatchDataset, batch_loader

# -- the loader against PyTorch's per-row loader ------------------------------


@pytest.mark.parametrize("as_tensor", [False, True])
@pytest.mark.parametrize("seed", [0, 7])
def test_batches_equal_the_per_row_loader(seed, as_tensor):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(103, 4)).astype(np.float32)
    Y = rng.normal(size=(103, 2)).astype(np.float32)
    if as_tensor:
        X, Y = torch.from_numpy(X), torch.from_numpy(Y)
    per_row = DataLoader(
        Dataset(X, Y),
        batch_size=25,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
    )
    ours = batch_loader(
        BatchDataset(X, Y),
        batch_size=25,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
    )
    orders = []
    for _ in range(3):  # a new order every pass, drawn alike
        expected, got = list(per_row), list(ours)
        assert [len(xb) for xb, _ in got] == [25, 25, 25, 25, 3]
        for (x_exp, y_exp), (x_got, y_got) in zip(expected, got, strict=True):
            assert torch.equal(x_got, x_exp) and torch.equal(y_got, y_exp)
        orders.append(torch.cat([xb for xb, _ in got]))
    assert not torch.equal(orders[0], orders[1])
    # every row once per pass
    rows = torch.as_tensor(X)
    assert torch.equal(orders[0][orders[0][:, 0].argsort()], rows[rows[:, 0].argsort()])


def test_unshuffled_loader_keeps_the_order_and_the_dummy_target():
    X = np.arange(30.0).reshape(10, 3)
    batches = list(batch_loader(BatchDataset(X), batch_size=4))
    assert [b[0].tolist() for b in batches] == [
        X[:4].tolist(),
        X[4:8].tolist(),
        X[8:].tolist(),
    ]
    # without y, skorch's Dataset gives a dummy target, as row by row
    assert all(torch.equal(y, torch.zeros(1)) for _, y in batches)


def test_batch_dataset_leaves_single_rows_and_other_data_to_skorch():
    X = np.arange(12.0).reshape(4, 3)
    Xi, yi = BatchDataset(X, X[:, 0])[2]
    np.testing.assert_array_equal(Xi, X[2])
    assert yi == X[2, 0]
    as_dict = BatchDataset({"a": X}, X[:, 0])
    Xb, yb = as_dict[[3, 1]]
    np.testing.assert_array_equal(Xb["a"], X[[3, 1]])
    np.testing.assert_array_equal(yb, X[[3, 1], 0])


# -- row weights the skorch way ------------------------------------------------------


class CountedRows(np.ndarray):
    """An array that counts how often it is indexed."""

    calls = 0

    def __getitem__(self, index):
        CountedRows.calls += 1
        return np.asarray(self)[index]


def test_batch_dataset_indexes_each_array_of_a_dict_once():
    rows = np.arange(30.0).reshape(10, 3)
    X = {
        "X": rows.view(CountedRows),
        "sample_weight": np.arange(10.0).view(CountedRows),
    }
    y = np.arange(10.0)[:, None].view(CountedRows)
    CountedRows.calls = 0
    Xb, yb = BatchDataset(X, y)[[7, 2, 5]]
    assert CountedRows.calls == 3  # X["X"], X["sample_weight"] and y, once each
    np.testing.assert_array_equal(Xb["X"], rows[[7, 2, 5]])
    np.testing.assert_array_equal(Xb["sample_weight"], [7.0, 2.0, 5.0])
    np.testing.assert_array_equal(yb, [[7.0], [2.0], [5.0]])
