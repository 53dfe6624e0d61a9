"""The fitted model in its ridge form, and the size check of its monomials."""

import re
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from sklearn_attnpoly import AttentionPolynomialRegressor, PrecisionWarning
from sklearn_attnpoly._polynomial import evaluate


def ridge_predict(directions, coefficients, intercept, X):
    t = X @ directions.T  # (rows, n)
    powers = np.stack([t ** (k + 1) for k in range(coefficients.shape[1])], axis=2)
    return intercept + np.einsum("rnk,nk...->r...", powers, coefficients)


@pytest.mark.parametrize(
    "params",
    [
        {"n_directions": 4, "random_state": 0},
        {"solver": "varpro", "n_directions": 3, "max_iter": 30, "random_state": 0},
        {},  # the lattice
        {"scaling": "none", "n_directions": 5, "random_state": 1},
    ],
)
def test_the_ridge_form_predicts_as_the_network(params):
    rng = np.random.default_rng(0)
    X = 5.0 + 2.0 * rng.normal(size=(300, 3))  # off-centre, not unit spread
    y = (X[:, 0] - X[:, 1]) ** 3 / 50 + X[:, 2] ** 2 + rng.normal(size=300)
    est = AttentionPolynomialRegressor(degree=3, **params).fit(X, y)
    directions, coefficients, intercept = est.to_ridge_form()
    assert directions.shape == (est.n_directions_, 3)
    assert coefficients.shape == (est.n_directions_, 3)
    assert isinstance(intercept, float)
    expected = est.predict(X)
    got = ridge_predict(directions, coefficients, intercept, X)
    np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-8 * np.abs(y).max())


def exact_targets(X):
    return np.column_stack([X[:, 0] ** 2 - X[:, 1], 3 * X[:, 0] * X[:, 1] + 2])


def test_the_ridge_form_has_one_polynomial_per_output_and_agrees_with_monomials():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 2))
    Y = exact_targets(X)
    est = AttentionPolynomialRegressor(degree=2).fit(X, Y)
    directions, coefficients, intercept = est.to_ridge_form()
    assert coefficients.shape == (3, 2, 2) and intercept.shape == (2,)
    X_new = rng.normal(size=(20, 2))
    ridge = ridge_predict(directions, coefficients, intercept, X_new)
    np.testing.assert_allclose(ridge, exact_targets(X_new), atol=1e-8)
    for o, poly in enumerate(est.to_polynomial()):
        np.testing.assert_allclose(ridge[:, o], evaluate(poly, X_new), atol=1e-9)


def test_monomials_that_will_not_fit_are_refused_before_any_is_listed():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(200, 100))
    y = (X[:, :3].sum(axis=1)) ** 2
    est = AttentionPolynomialRegressor(
        degree=6, solver="varpro", n_directions=1, max_iter=5, random_state=0
    )
    with pytest.warns(ConvergenceWarning, match="stopped after max_iter=5"):
        est.fit(X, y)
    count = 1_705_904_746  # C(106, 6)
    with pytest.raises(
        MemoryError,
        match=re.escape(f"to_polynomial lists {count} monomials (C(d + q, q))")
        + r" of degree <= 6 in 100 features: about \S+ GiB, but \S+ GiB are "
        r"available\. to_ridge_form gives the same model as its directions and "
        r"each direction's polynomial\.",
    ):
        est.to_polynomial()
    directions, coefficients, intercept = est.to_ridge_form()
    assert directions.shape == (1, 100) and coefficients.shape == (1, 6)
    np.testing.assert_allclose(
        ridge_predict(directions, coefficients, intercept, X),
        est.predict(X),
        rtol=1e-8,
        atol=1e-8 * np.abs(y).max(),
    )


@pytest.mark.parametrize("form", ["to_polynomial", "to_ridge_form"])
def test_coefficients_that_cancel_near_the_data_warn(form):
    """X's mean 1e3 against a spread of 1e-2: in X's units the cubic's terms
    are ~1e15 times the targets near the data, and their sum there is
    rounding. Said, with the fix; centred, the same data is silent."""
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(100, 2))
    y = Z[:, 0] ** 3 - Z[:, 1] + 0.1 * rng.normal(size=100)
    far = AttentionPolynomialRegressor(3, n_directions=3, random_state=0)
    far.fit(1e3 + 1e-2 * Z, y)
    with pytest.warns(
        PrecisionWarning,
        match=r"^In the units of X the fitted model is a sum of terms that cancel "
        r"near the data \(\|mean\| / spread of X up to \S+, the spread as the "
        r"network scales X\): evaluated there, they lose about \S+ of the "
        r"targets' spread to rounding, above the 1e-06 expected of float64\. "
        r"Centre X \(e\.g\. subtract its mean\) before fitting to read the "
        r"coefficients; predict is not affected\.$",
    ):
        getattr(far, form)()
    near = AttentionPolynomialRegressor(3, n_directions=3, random_state=0)
    near.fit(1e-2 * Z, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        getattr(near, form)()
