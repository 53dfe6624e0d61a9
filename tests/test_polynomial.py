"""Polynomials as ``{exponents: coefficient}`` (``_polynomial.py``)."""

import itertools
import math

import numpy as np
import pytest

from sklearn_attnpoly._polynomial import (
    evaluate,
    homogeneous_exponents,
    monomial_exponents,
    multinomial_coefficients,
    substitute_affine,
    validate_coefficients,
)

# -- polynomials ------------------------------------------------------------------


def test_homogeneous_exponents_count_and_order():
    exps = homogeneous_exponents(3, 2)
    assert exps.tolist() == [
        [2, 0, 0],
        [1, 1, 0],
        [1, 0, 1],
        [0, 2, 0],
        [0, 1, 1],
        [0, 0, 2],
    ]
    for d, q in [(1, 4), (2, 2), (10, 5), (4, 3)]:
        assert len(homogeneous_exponents(d, q)) == math.comb(d - 1 + q, q)
    assert len(monomial_exponents(10, 5)) == math.comb(15, 5)
    # every exponent of the degree, once, in decreasing lexicographic order
    for d, q in [(1, 0), (1, 3), (3, 0), (3, 4), (5, 3)]:
        every = [e for e in itertools.product(range(q + 1), repeat=d) if sum(e) == q]
        assert homogeneous_exponents(d, q).tolist() == sorted(map(list, every))[::-1]


def test_multinomial_coefficients_are_exact():
    rng = np.random.default_rng(0)
    exponents = rng.integers(0, 6, size=(500, 4))
    exact = [
        math.factorial(int(sum(e))) // math.prod(math.factorial(int(a)) for a in e)
        for e in exponents
    ]
    assert multinomial_coefficients(exponents).tolist() == [float(v) for v in exact]
    assert multinomial_coefficients(np.zeros((2, 3), dtype=int)).tolist() == [1.0, 1.0]


def test_evaluate_known_values():
    coefs = {(2, 0): 1.0, (0, 2): 1.0, (1, 1): -2.0, (0, 0): 0.5}
    X = np.array([[3.0, 4.0], [1.0, 1.0], [0.0, 0.0]])
    np.testing.assert_array_equal(evaluate(coefs, X), [1.5, 0.5, 0.5])


@pytest.mark.parametrize(
    "coefs, message",
    [
        ({}, "coefficients is empty"),
        ({(1, 0): 1.0, (1,): 2.0}, "same length"),
        ({(1, -1): 1.0}, "non-negative"),
        ({(1.5, 0): 1.0}, "non-negative"),
        ({"x1": 1.0}, "tuple of non-negative"),
        ({(1, 0): float("nan")}, "finite real number"),
        ({(1, 0): "3"}, "finite real number"),
        ({(): 1.0}, "at least one feature"),
    ],
)
def test_validate_coefficients_rejects(coefs, message):
    with pytest.raises(ValueError, match=message):
        validate_coefficients(coefs)


def test_validate_coefficients_rejects_non_mapping():
    with pytest.raises(TypeError, match="must be a mapping"):
        validate_coefficients([((1, 0), 1.0)])


def test_validate_coefficients_degree_ignores_zero_terms():
    d, q, coef = validate_coefficients({(3, 0): 0.0, (1, 1): 2.0})
    assert (d, q) == (2, 2)
    assert coef.tolist() == [0, 0, 0, 0, 2, 0]


def test_substitute_affine_matches_evaluation():
    rng = np.random.default_rng(1)
    exps = monomial_exponents(3, 3)
    coef = rng.normal(size=len(exps))
    shift, scale = rng.normal(size=3), rng.uniform(0.5, 2, size=3)
    X = rng.normal(size=(50, 3))
    expected = evaluate(
        dict(zip(map(tuple, exps), coef, strict=True)), (X - shift) / scale
    )
    shifted = substitute_affine(coef, exps, shift, scale)
    got = evaluate(dict(zip(map(tuple, exps), shifted, strict=True)), X)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
