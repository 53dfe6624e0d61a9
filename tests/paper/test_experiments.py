"""The paper's experiments (``paper/_experiments.py``): the exact f2 check, the
counts of free parameters, the order of the runs, the convergence epoch."""

import numpy as np
import pytest

from sklearn_attnpoly import AttentionPolynomialRegressor
from sklearn_attnpoly.paper import _experiments
from sklearn_attnpoly.paper._baselines import (
    make_baseline,
)
from sklearn_attnpoly.paper._experiments import (
    convergence_epoch,
    free_parameters,
)


def test_exact_f2_check():
    assert _experiments.exact_f2_check(n_points=50) < 1e-9


def test_reproduce_runs_start_with_the_longest():
    settings = _experiments.REPRODUCE_SETTINGS["quick"]
    assert _experiments.reproduce_runs(settings) == [
        ("f2", "ATTENTION"),
        ("f2", "NN_width"),
        ("f2", "NN_depth"),
        ("f1", "ATTENTION"),
        ("f1", "NN_width"),
        ("f1", "NN_depth"),
    ]


def test_attention_with_ten_directions_has_41_parameters():
    # the paper's "41 free parameters" for f1: n = 10 rows of F, not n_q = 3
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 2))
    est = AttentionPolynomialRegressor(2, n_directions=10, random_state=0)
    est.fit(X, (X**2).sum(axis=1))
    assert free_parameters(est) == 41


# MLPRegressor's 200 epochs on 60 rows stop short of its tolerance; only the
# parameter counts matter here
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_free_parameters_of_every_baseline():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    y = X[:, 0] ** 2 + X[:, 1]
    counts = {}
    for name in ("nn_width", "nn_depth", "mlp_default", "poly_lr"):
        est = make_baseline(name, "f1", max_epochs=2, batch_size=30, random_state=0)
        counts[name] = free_parameters(est.fit(X, y))
    # MLPRegressor() has 100 hidden units; PF(2) on 2 features has 6 columns
    assert counts == {"nn_width": 41, "nn_depth": 57, "mlp_default": 401, "poly_lr": 7}


def test_convergence_epoch():
    assert convergence_epoch([10.0, 5.0, 5.005]) == 3
    assert convergence_epoch([10.0, 5.0, 2.0]) is None
    assert convergence_epoch([1.0, 1.001]) == 2
