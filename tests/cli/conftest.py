"""Fixtures of the command line's tests."""

import numpy as np
import pytest


@pytest.fixture
def csv_file(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2))
    y = X[:, 0] ** 2 - 2 * X[:, 0] * X[:, 1] + 0.5
    path = tmp_path / "data.csv"
    rows = ["a,b,y"] + [
        ",".join(map(repr, row)) for row in np.column_stack([X, y]).tolist()
    ]
    path.write_text("\n".join(rows) + "\n")
    return path
