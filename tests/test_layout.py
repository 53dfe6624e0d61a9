"""The package's floors: the core never reaches into the paper's laboratory,
and a closed-form fit loads nothing it does not use."""

import json
import subprocess
import sys

import pytest

import sklearn_attnpoly

_CORE_ONLY = """
import json, pickle, sys
import numpy as np
import sklearn_attnpoly
from sklearn_attnpoly import AttentionPolynomialRegressor, attention
X = np.random.default_rng(0).normal(size=(60, 2))
dynamo = {}
for solver in ("lstsq", "sgd"):
    est = AttentionPolynomialRegressor(2, solver=solver, max_epochs=2).fit(X, X[:, 0])
    pickle.loads(pickle.dumps(est)).predict(10 * X)
    est.to_polynomial()
    AttentionPolynomialRegressor.from_polynomial({(2, 0): 1.0}).predict(X)
    dynamo[solver] = "torch._dynamo" in sys.modules
loaded = [
    name for name in sys.modules
    if name.startswith(("sklearn_attnpoly.paper", "sklearn_attnpoly.datasets",
                        "sklearn_attnpoly._cli", "matplotlib", "dask"))
]
print(json.dumps({"laboratory": sorted(loaded), "dynamo": dynamo}))
"""


def test_the_core_loads_neither_the_laboratory_nor_matplotlib_nor_dask():
    # a fresh interpreter: this one has imported everything already
    done = subprocess.run(
        [sys.executable, "-c", _CORE_ONLY], capture_output=True, text=True, check=True
    )
    loaded = json.loads(done.stdout)
    assert loaded["laboratory"] == []
    # a torch optimizer imports torch._dynamo (seconds); only training needs one
    assert loaded["dynamo"] == {"lstsq": False, "sgd": True}


def test_the_laboratory_is_reached_by_name_only():
    from sklearn_attnpoly import datasets, paper

    assert datasets.make_paper_f1 is paper.datasets.make_paper_f1
    assert not hasattr(sklearn_attnpoly, "PaperMLPRegressor")
    assert not hasattr(sklearn_attnpoly, "__getattr__")


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        sklearn_attnpoly.no_such_name  # noqa: B018
