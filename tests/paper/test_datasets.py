"""The paper's tasks f1 and f2 (``paper/datasets.py``)."""

import numpy as np
import pytest

from sklearn_attnpoly._polynomial import evaluate
from sklearn_attnpoly.paper.datasets import (
    PAPER_F1,
    PAPER_F2,
    make_paper_f1,
    make_paper_f2,
    paper_f1,
    paper_f2,
)


def test_paper_f1_exact_values():
    X = [[3.0, 4.0], [-1.0, 2.0], [0.0, 0.0], [0.5, -0.5]]
    np.testing.assert_array_equal(paper_f1(X), [25.0, 5.0, 0.0, 0.5])


def test_paper_f2_exact_values():
    X = np.zeros((4, 10))
    X[0] = 1.0  # 1 + 3 + 2 + 5 + 3 + 2 + 2
    X[1, 0] = 2.0  # x1^5
    X[2, [2, 3]] = [-1.0, 2.0]  # 2 x3^3 + 5 x3 x4 = -2 - 10
    X[3, [5, 6, 7, 9]] = [2.0, 3.0, -1.0, 100.0]  # 2 x6 x7 x8; x10 unused
    np.testing.assert_array_equal(paper_f2(X), [18.0, 32.0, -12.0, -12.0])


@pytest.mark.parametrize(
    ("target", "coefficients", "width"),
    [(paper_f1, PAPER_F1, 2), (paper_f2, PAPER_F2, 10)],
)
def test_targets_match_their_coefficient_dicts(target, coefficients, width):
    X = np.random.default_rng(0).normal(size=(50, width))
    np.testing.assert_allclose(target(X), evaluate(coefficients, X), rtol=1e-12)


@pytest.mark.parametrize(
    ("make", "n_samples", "width"),
    [(make_paper_f1, 10000, 2), (make_paper_f2, 50000, 10)],
)
def test_default_shapes(make, n_samples, width):
    X, y = make(random_state=0)
    assert X.shape == (n_samples, width)
    assert y.shape == (n_samples,)


def test_input_distributions():
    X1, _ = make_paper_f1(random_state=0)
    X2, _ = make_paper_f2(random_state=0)
    # N(0, diag(100, 100)) and N(0, I_10): standard errors 0.1 and 0.0045
    np.testing.assert_allclose(X1.mean(axis=0), 0.0, atol=0.5)
    np.testing.assert_allclose(X1.std(axis=0), 10.0, rtol=0.03)
    np.testing.assert_allclose(X2.mean(axis=0), 0.0, atol=0.03)
    np.testing.assert_allclose(X2.std(axis=0), 1.0, rtol=0.03)


@pytest.mark.parametrize(
    ("make", "target"), [(make_paper_f1, paper_f1), (make_paper_f2, paper_f2)]
)
def test_noise(make, target):
    X, y = make(n_samples=20000, noise=2.0, random_state=0)
    residual = y - target(X)
    assert abs(residual.mean()) < 0.05
    assert residual.std() == pytest.approx(2.0, rel=0.02)
    X, y = make(n_samples=10, noise=0.0, random_state=0)
    np.testing.assert_array_equal(y, target(X))


@pytest.mark.parametrize("make", [make_paper_f1, make_paper_f2])
def test_random_state_reproducible(make):
    X_a, y_a = make(n_samples=100, random_state=42)
    X_b, y_b = make(n_samples=100, random_state=np.random.RandomState(42))
    np.testing.assert_array_equal(X_a, X_b)
    np.testing.assert_array_equal(y_a, y_b)
    X_c, _ = make(n_samples=100, random_state=43)
    assert not np.array_equal(X_a, X_c)


@pytest.mark.parametrize("make", [make_paper_f1, make_paper_f2])
def test_argument_errors(make):
    with pytest.raises(ValueError, match=r"n_samples must be at least 1; got 0\."):
        make(n_samples=0)
    with pytest.raises(TypeError, match="n_samples must be an integer; got float"):
        make(n_samples=10.0)
    with pytest.raises(ValueError, match=r"noise must be a finite number >= 0; got -1"):
        make(noise=-1)
    with pytest.raises(ValueError, match="noise must be a finite number >= 0; got nan"):
        make(noise=float("nan"))


@pytest.mark.parametrize(
    ("target", "width", "name"), [(paper_f1, 2, "f1"), (paper_f2, 10, "f2")]
)
def test_wrong_width(target, width, name):
    message = f"X must have {width} columns, the variables of the paper's {name}; got 3"
    with pytest.raises(ValueError, match=message):
        target(np.zeros((4, 3)))
