"""The map between a polynomial and the network (``attention/_polynomial_map.py``),
through ``from_polynomial`` and ``to_polynomial``: the exact construction
(Theorem 3.5 with Lemma 3.3) and its inverse."""

import warnings

import numpy as np
import pytest

from sklearn_attnpoly import AttentionPolynomialRegressor, OutOfBoundWarning
from sklearn_attnpoly._polynomial import evaluate, monomial_exponents
from sklearn_attnpoly.paper.datasets import PAPER_F2


def random_polynomial(d, q, rng, density=0.5):
    exps = monomial_exponents(d, q)
    coefs = {
        tuple(int(a) for a in e): float(rng.normal())
        for e in exps
        if rng.uniform() < density
    }
    top = tuple(int(a) for a in exps[-1])  # make sure the degree is q
    coefs[top] = 1.5
    return coefs


def points_in_ball(n, d, radius, rng):
    X = rng.normal(size=(n, d))
    r = radius * rng.uniform(size=(n, 1)) ** (1 / d)
    return X * r / np.linalg.norm(X, axis=1, keepdims=True)


def relative_error(pred, true):
    return np.abs(pred - true).max() / np.abs(true).max()


def assert_same_polynomial(got, want, tol):
    keys = set(got) | set(want)
    worst = max(abs(got.get(k, 0.0) - want.get(k, 0.0)) for k in keys)
    assert worst <= tol * max(1.0, max(abs(v) for v in want.values()))


CASES = [(1, 1), (1, 5), (2, 2), (3, 3), (4, 5), (6, 2), (10, 3)]


@pytest.mark.parametrize("d, q", CASES)
@pytest.mark.parametrize("radius", [0.5, 7.0])
def test_from_polynomial_is_exact_inside_radius(d, q, radius):
    rng = np.random.default_rng(d * 10 + q)
    coefs = random_polynomial(d, q, rng)
    X = points_in_ball(300, d, radius, rng)
    est = AttentionPolynomialRegressor.from_polynomial(coefs, radius=radius)
    assert est.degree == q
    assert est.n_features_in_ == d
    assert relative_error(est.predict(X), evaluate(coefs, X)) <= 1e-10
    assert_same_polynomial(est.to_polynomial(), coefs, 1e-9)


@pytest.mark.parametrize("d, q", [(1, 5), (2, 2), (3, 3), (4, 3)])
def test_dense_engine_is_exact_and_equals_structured(d, q):
    rng = np.random.default_rng(q)
    coefs = random_polynomial(d, q, rng)
    X = points_in_ball(100, d, 3.0, rng)
    dense = AttentionPolynomialRegressor.from_polynomial(
        coefs, radius=3.0, engine="dense"
    )
    structured = AttentionPolynomialRegressor.from_polynomial(coefs, radius=3.0)
    assert relative_error(dense.predict(X), evaluate(coefs, X)) <= 1e-10
    np.testing.assert_allclose(
        dense.predict(X), structured.predict(X), rtol=1e-12, atol=1e-12
    )


def test_paper_f2_is_exact():
    rng = np.random.default_rng(2)
    X = points_in_ball(500, 10, 4.0, rng)
    est = AttentionPolynomialRegressor.from_polynomial(PAPER_F2, radius=4.0)
    assert est.n_directions_ == 2002
    assert relative_error(est.predict(X), evaluate(PAPER_F2, X)) <= 1e-10
    assert_same_polynomial(est.to_polynomial(), PAPER_F2, 1e-9)


def test_random_degree_5_in_10_variables():
    rng = np.random.default_rng(5)
    coefs = random_polynomial(10, 5, rng, density=0.05)
    X = points_in_ball(300, 10, 1.0, rng)
    est = AttentionPolynomialRegressor.from_polynomial(coefs)
    assert relative_error(est.predict(X), evaluate(coefs, X)) <= 1e-10
    assert_same_polynomial(est.to_polynomial(), coefs, 1e-9)


def test_to_polynomial_lists_every_monomial_up_to_degree():
    est = AttentionPolynomialRegressor.from_polynomial({(1, 1): 2.0, (0, 0): -1.0})
    poly = est.to_polynomial()
    assert list(poly) == [tuple(e) for e in monomial_exponents(2, 2).tolist()]
    assert poly[(1, 1)] == pytest.approx(2.0, abs=1e-12)
    assert poly[(0, 0)] == pytest.approx(-1.0, abs=1e-12)


def test_constant_polynomial_uses_one_block():
    est = AttentionPolynomialRegressor.from_polynomial({(0, 0, 0): 4.0})
    assert est.degree == 1
    np.testing.assert_allclose(est.predict(np.ones((3, 3)) * 0.1), 4.0, rtol=1e-15)


def test_outside_the_bound_the_network_is_not_the_polynomial():
    """The blocks hold up to the guard radius headroom * radius; far beyond it
    the one-hot maximum picks another token and the network's own output
    departs, while out_of_bound="extend" (the default) stays exact."""
    coefs = {(2, 0): 1.0, (0, 2): 1.0}
    est = AttentionPolynomialRegressor.from_polynomial(coefs, radius=1.0)
    inside = np.array([[1.2, -1.4]])  # norm 1.84 < guard radius 2
    far = np.array([[30.0, -40.0]])  # norm 50
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert est.predict(inside)[0] == pytest.approx(3.4, rel=1e-12)
        assert est.predict(far)[0] == pytest.approx(2500.0, rel=1e-12)
    est.set_params(out_of_bound="warn")
    with pytest.warns(OutOfBoundWarning, match="1 of 1 rows lie outside"):
        got = est.predict(far)[0]
    assert abs(got - 2500.0) > 100.0


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"radius": 0.0}, ValueError, "radius must be a finite number > 0"),
        ({"radius": float("inf")}, ValueError, "radius must be a finite number > 0"),
        ({"engine": "sparse"}, ValueError, "'engine' parameter"),
    ],
)
def test_from_polynomial_rejects_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        AttentionPolynomialRegressor.from_polynomial({(1,): 1.0}, **kwargs)


def test_constructed_estimator_validates_predict_input():
    est = AttentionPolynomialRegressor.from_polynomial({(1, 0): 1.0})
    with pytest.raises(ValueError, match="expecting 2 features"):
        est.predict(np.ones((2, 3)))
    with pytest.raises(ValueError, match="NaN"):
        est.predict([[np.nan, 0.0]])
