"""The readout's normal equations from the moments of the data, against the
row-by-row Gram of the slots the network computes."""

import math

import numpy as np
import pytest
import torch

from sklearn_attnpoly import AttentionPolynomialNetwork, AttentionPolynomialRegressor
from sklearn_attnpoly._polynomial import monomial_exponents, monomials
from sklearn_attnpoly._solvers._moments import (
    MomentTable,
    moment_normal_equations,
    n_moments,
)
from sklearn_attnpoly._solvers._readout import (
    choose_method,
    fit_readout,
    gram_normal_equations,
)
from sklearn_attnpoly.attention._directions import (
    lattice_directions,
    select_power_slots,
)


@pytest.mark.parametrize(
    "n_features, max_degree", [(1, 1), (1, 6), (2, 4), (3, 6), (5, 4), (7, 2)]
)
def test_moment_table_equals_the_sums_of_monomials(n_features, max_degree):
    rng = np.random.default_rng(n_features * 10 + max_degree)
    X = rng.normal(size=(257, n_features))
    weights = rng.uniform(0.5, 2.0, size=(257, 3))
    table = MomentTable(X, weights, max_degree)
    exponents = monomial_exponents(n_features, max_degree)
    assert (
        table.n_moments
        == len(exponents)
        == math.comb(n_features + max_degree, max_degree)
    )
    expected = weights.T @ monomials(X, exponents)
    got = np.stack([table(exponents, column) for column in range(3)])
    np.testing.assert_allclose(
        got, expected, rtol=1e-12, atol=1e-12 * abs(expected).max()
    )


def test_moment_table_chunks_give_the_same_sums(monkeypatch):
    rng = np.random.default_rng(1)
    X, w = rng.normal(size=(500, 4)), rng.uniform(size=(500, 1))
    whole = MomentTable(X, w, 4).moments
    monkeypatch.setattr("sklearn_attnpoly._chunks.CHUNK_BYTES", 8 * 7 * 70)
    np.testing.assert_allclose(MomentTable(X, w, 4).moments, whole, rtol=1e-13)


def test_n_moments_counts_the_monomials_of_degree_2q():
    assert n_moments(10, 5) == 184756 == math.comb(20, 10)
    assert n_moments(2, 2) == 15


def _network(directions, degree, mask, n_outputs=2):
    return AttentionPolynomialNetwork(
        torch.as_tensor(directions),
        degree,
        radius=2.0,
        n_outputs=n_outputs,
        mask=torch.as_tensor(mask),
    )


def _problem(n_features, degree, n_directions, n_samples=600, seed=0):
    rng = np.random.default_rng(seed)
    if n_directions is None:
        directions = lattice_directions(n_features, degree)
    else:
        directions = rng.normal(size=(n_directions, n_features))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    mask = select_power_slots(directions, degree)
    X = rng.normal(size=(n_samples, n_features)) + 0.3
    X /= np.linalg.norm(X, axis=1).max()
    Y = np.column_stack([np.cos(2 * X[:, 0]) + X.sum(axis=1) ** 2, X[:, -1] ** 3])
    w = rng.uniform(0.2, 3.0, size=n_samples)
    return directions, mask, X, Y, w


@pytest.mark.parametrize(
    "n_features, degree, n_directions",
    [(1, 4, None), (2, 2, None), (3, 3, None), (4, 3, 6), (3, 4, 40), (6, 2, None)],
)
def test_moment_normal_equations_equal_the_gram_of_the_slots(
    n_features, degree, n_directions, monkeypatch
):
    # lattice directions (square P), too few (n = 6 < n_q = 20) and many random
    # directions; uneven weights, two targets, data not centred
    directions, mask, X, Y, w = _problem(n_features, degree, n_directions)
    module = _network(directions, degree, mask)
    # the Gram in many chunks of rows, each shifted by the first one's means
    monkeypatch.setattr("sklearn_attnpoly._chunks.CHUNK_BYTES", 8 * 1024)
    expected = gram_normal_equations(module, X, Y, w)
    monkeypatch.undo()
    got = moment_normal_equations(directions, mask, X, Y, w)
    scale = abs(expected[0]).max()
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11 * scale)


def test_both_methods_give_the_same_readout():
    directions, mask, X, Y, w = _problem(4, 3, None, n_samples=2000)
    fitted = {}
    for method in ("gram", "moments"):
        module = _network(directions, 3, mask)
        info = fit_readout(module, X, Y, w, alpha=1e-10, method=method)
        assert info == {"n_features": int(mask.sum()), "rank": 34, "method": method}
        fitted[method] = (module.beta.detach().numpy(), module.b.detach().numpy())
    np.testing.assert_allclose(*(f[0] for f in fitted.values()), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(*(f[1] for f in fitted.values()), rtol=1e-9, atol=1e-12)


def test_auto_uses_the_moments_only_inside_the_radius():
    directions, mask, X, Y, w = _problem(4, 3, None, n_samples=2000)
    module = _network(directions, 3, mask)
    assert choose_method(module, X) == "moments"
    # one row beyond the blocks' radius: the slots are not the powers there
    X_out = X.copy()
    X_out[0] *= 2.5 / np.linalg.norm(X_out[0])
    assert choose_method(module, X_out) == "gram"
    assert fit_readout(module, X_out, Y, w, alpha=1e-10)["method"] == "gram"
    # a direction longer than 1 lets |t_i| exceed ||x||
    with torch.no_grad():
        module.F[0] *= 1.5
    assert choose_method(module, X) == "gram"


def test_auto_uses_the_gram_when_it_costs_less():
    # few rows: the moments' set-up products cost more than N p^2
    directions, mask, X, Y, w = _problem(4, 3, None, n_samples=20)
    assert choose_method(_network(directions, 3, mask), X) == "gram"


def test_estimator_lstsq_through_the_moments_matches_polynomial_features():
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures

    rng = np.random.default_rng(3)
    X = rng.normal(size=(3000, 5))
    y = X[:, 0] ** 3 - 2 * X[:, 1] * X[:, 2] + X[:, 4] + rng.normal(size=3000)
    est = AttentionPolynomialRegressor(degree=3, device="cpu").fit(X, y)
    module = est.net_.module_
    assert choose_method(module, est.scaling_.transform(X)) == "moments"
    reference = make_pipeline(PolynomialFeatures(3), LinearRegression()).fit(X, y)
    X_test = rng.normal(size=(500, 5))
    np.testing.assert_allclose(
        est.predict(X_test), reference.predict(X_test), rtol=1e-7, atol=1e-7
    )
