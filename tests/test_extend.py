"""Beyond the guard radius: ``out_of_bound="extend"``, the rounding estimate
it is checked against, and the precision of the guard radius itself."""

import math
import re
import warnings

import numpy as np
import pytest
import torch

from sklearn_attnpoly import (
    AttentionPolynomialRegressor,
    ExtrapolationWarning,
    OutOfBoundWarning,
)
from sklearn_attnpoly._guard import RELATIVE_TOLERANCE, guard_rounding
from sklearn_attnpoly._polynomial import monomial_exponents
from sklearn_attnpoly.attention import block_bounds
from sklearn_attnpoly.attention._fused_chain import _chain, slot_rounding_errors

#: Every prediction here is far outside the training rows on purpose, to
#: measure the precision of the extension; the alarm that says so
#: (``ExtrapolationWarning``) is tested in ``test_extrapolation.py``.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn_attnpoly.ExtrapolationWarning")

LONG = np.longdouble  # 64-bit significand on x86: the references below


def evaluate_long(poly, X):
    """A ``{exponents: coefficient}`` polynomial at the rows of X, in long
    double."""
    X = np.asarray(X, dtype=LONG)
    y = np.zeros(len(X), dtype=LONG)
    for exponents, c in poly.items():
        y += LONG(c) * np.prod(X ** np.array(exponents), axis=1)
    return y


def network_polynomial_long(est, X):
    """The polynomial the fitted network represents, ``sum_ik beta_ik (-t_i)^k
    + b`` with ``t = F x_tilde``, at the scaled rows ``x_tilde`` that
    ``predict`` computes, in long double and the caller's target units."""
    module = est.net_.module_
    F = module.F.detach().double().numpy().astype(LONG)
    beta = (module.beta * module.mask[..., None]).detach().double().numpy()
    t = est.scaling_.transform(X).astype(LONG) @ F.T
    y = np.zeros((len(X), beta.shape[2]), dtype=LONG) + module.b.detach().numpy()
    for k in range(1, est.degree + 1):
        y += (-t) ** k @ beta[:, k - 1].astype(LONG)
    return (y * est.target_scaling_.scale + est.target_scaling_.mean)[:, 0]


def predicted_error_estimate(est, X):
    """The package's own estimate for the rows of X, caller's units."""
    norms = np.linalg.norm(est.scaling_.transform(X), axis=1)
    j = max(0, math.ceil(math.log2(norms.max() / est.guard_radius_)))
    module = est.net_.module_
    return float(module.rounding_error(j)[0]) * est.target_scaling_.scale[0]


def random_polynomial(d, q, rng):
    exponents = monomial_exponents(d, q)
    return {
        tuple(map(int, e)): float(c)
        for e, c in zip(exponents, rng.normal(size=len(exponents)), strict=True)
    }


def noisy_fit(degree, dtype="float64", seed=0, d=3):
    """An lstsq fit on noisy data: a generic fitted polynomial."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(300, d))
    exponents = monomial_exponents(d, degree)
    design = np.prod(X[:, None, :] ** exponents[None], axis=2)
    y = design @ rng.normal(size=len(exponents)) + 0.1 * rng.normal(size=len(X))
    est = AttentionPolynomialRegressor(degree=degree, dtype=dtype).fit(X, y)
    return est, X


def relative_to_largest(got, want):
    return float(np.abs(got - want).max() / np.abs(want).max())


# -- the default: predictions are the fitted polynomial, far out too ---------------


@pytest.mark.parametrize("degree", [1, 2, 3])
@pytest.mark.parametrize("factor", [10.0, 1000.0])
def test_far_predictions_equal_to_polynomial_to_1e_8(degree, factor):
    est, X = noisy_fit(degree)
    X_far = np.random.default_rng(1).normal(size=(200, 3)) * factor
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = est.predict(X_far)
    # exact far out (no OutOfBoundWarning); the values extrapolate (degree 1
    # at 10 times the rows may stay inside the widened range)
    assert {w.category for w in caught} <= {ExtrapolationWarning}
    want = evaluate_long(est.to_polynomial(), X_far).astype(float)
    assert relative_to_largest(got, want) <= 1e-8


@pytest.mark.parametrize("degree", [4, 5, 6])
@pytest.mark.parametrize("factor", [1.0, 10.0, 1000.0, 1e6])
def test_far_predictions_of_high_degree_are_within_the_estimate(degree, factor):
    est, X = noisy_fit(degree)
    X_far = np.random.default_rng(2).normal(size=(200, 3)) * factor
    got = est.predict(X_far)
    want = network_polynomial_long(est, X_far).astype(float)
    assert np.abs(got - want).max() <= predicted_error_estimate(est, X_far)
    # and the estimate is no empty promise: within 1e-9 of the largest value
    assert predicted_error_estimate(est, X_far) <= 1e-9 * np.abs(want).max()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("d, q", [(1, 1), (1, 6), (2, 2), (2, 5), (3, 3), (4, 4)])
def test_the_rounding_estimate_is_never_exceeded(dtype, d, q):
    rng = np.random.default_rng(10 * d + q)
    for _ in range(3):  # three polynomials
        est = AttentionPolynomialRegressor.from_polynomial(
            random_polynomial(d, q, rng), radius=1.0, dtype=dtype
        )
        for factor in (1.0, 1.9, 30.0, 1e3, 1e5):
            X = rng.normal(size=(300, d))
            X *= factor / np.linalg.norm(X, axis=1, keepdims=True).max()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", OutOfBoundWarning)
                got = est.predict(X)
            want = network_polynomial_long(est, X).astype(float)
            assert np.abs(got - want).max() <= predicted_error_estimate(est, X)


def test_no_warning_where_predictions_are_exact():
    # the README's polynomial, and rows just beyond its guard radius of 2
    est = AttentionPolynomialRegressor.from_polynomial({(2, 0): 1.0, (0, 2): 1.0})
    X = np.array([[0.3, 0.4], [1.2 * 2.0, 0.0], [1e4, -3e4]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = est.predict(X)
    np.testing.assert_allclose(got, [0.25, 5.76, 1e9], rtol=1e-14)


def test_float32_warns_when_the_estimate_exceeds_its_tolerance():
    est, X = noisy_fit(6, dtype="float32")
    X_far = X * 10.0
    with pytest.warns(
        OutOfBoundWarning,
        match=r"265 of 300 rows lie outside the guard radius; their predictions "
        r"are the fitted polynomial with an estimated rounding error of .* above "
        r"the 0.001 expected of float32",
    ):
        got = est.predict(X_far)
    want = network_polynomial_long(est, X_far).astype(float)
    estimate = predicted_error_estimate(est, X_far)
    assert estimate > 1e-3 * np.abs(got).max()
    assert np.abs(got - want).max() <= estimate


def test_overflowing_polynomial_is_an_error():
    est = AttentionPolynomialRegressor.from_polynomial({(2,): 1.0})
    assert est.predict([[1e150]])[0] == pytest.approx(1e300, rel=1e-14)
    with pytest.raises(
        ValueError, match="The fitted polynomial exceeds the largest float64"
    ):
        est.predict([[1e160]])


def module_polynomial_long(module, x):
    """``sum_ik beta_ik (-t_i)^k + b`` at the rows x, in long double."""
    F = module.F.detach().double().numpy().astype(LONG)
    beta = (module.beta * module.mask[..., None]).detach().double().numpy()
    t = x.double().numpy().astype(LONG) @ F.T
    y = np.zeros((len(t), beta.shape[2]), dtype=LONG) + module.b.detach().numpy()
    for k in range(1, beta.shape[1] + 1):
        y += (-t) ** k @ beta[:, k - 1].astype(LONG)
    return y.astype(float)


@pytest.mark.parametrize("engine", ["structured", "dense"])
def test_scaled_forward_is_the_polynomial_beyond_the_radius(engine):
    est = AttentionPolynomialRegressor.from_polynomial(
        random_polynomial(2, 3, np.random.default_rng(0)), engine=engine
    )
    module = est.net_.module_
    x = torch.randn(50, 2, dtype=torch.float64)
    x *= 8 * module.radius / x.norm(dim=1, keepdim=True).max()  # up to 2^3 radius
    with torch.no_grad():
        scaled, plain = module(x, 3).numpy(), module(x).numpy()
    want = module_polynomial_long(module, x)
    error = module.rounding_error(3).numpy()
    assert np.abs(scaled - want).max() <= error.max()
    assert np.abs(plain - want).max() > 1e3 * error.max()  # the blocks alone fail


# -- the estimate of one slot, against the chain's own arithmetic -------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("radius", [0.01, 2.0, 1000.0])
def test_slot_rounding_errors_bound_the_chain(dtype, radius):
    q = 6
    two_M2 = [torch.tensor(2 * M**2, dtype=dtype) for M in block_bounds(radius, q)]
    t = torch.linspace(-radius, radius, 20001, dtype=torch.float64).to(dtype)[:, None]
    slots = [torch.empty_like(t) for _ in range(q)]
    _chain(t, two_M2, slots)
    bounds = slot_rounding_errors(two_M2, radius, dtype)
    t_long = t.double().numpy().astype(LONG)
    for k in range(1, q + 1):
        error = np.abs(slots[k - 1].double().numpy() - (-t_long) ** k).max()
        assert bounds[k - 1] / 4 <= error <= bounds[k - 1]  # a bound, and tight


# -- the guard radius's own precision ------------------------------------------------


@pytest.mark.parametrize(
    "dtype, headroom, degree, rounding",
    [("float32", 1000.0, 2, 0.29), ("float64", 1e8, 2, 3.0)],
)
def test_a_large_headroom_is_refused(dtype, headroom, degree, rounding):
    X = np.random.default_rng(0).normal(size=(50, 2))
    y = X[:, 0] ** 2 - X[:, 0] * X[:, 1]
    tolerance = RELATIVE_TOLERANCE[getattr(torch, dtype)]
    assert guard_rounding(1.0, headroom, degree, getattr(torch, dtype)) == (
        pytest.approx(rounding, rel=0.05)
    )
    est = AttentionPolynomialRegressor(degree=degree, dtype=dtype, headroom=headroom)
    with pytest.raises(ValueError) as raised:
        est.fit(X, y)
    message = str(raised.value)
    assert re.fullmatch(
        re.escape(f"headroom={headroom:g} builds the blocks for a guard radius of ")
        + r".* with a relative error up to \S+ in "
        + re.escape(f"{dtype}, above the {tolerance:g} allowed; headroom <= ")
        + r"\S+ stays within it\. Rows beyond the guard radius need no headroom: "
        r"out_of_bound='extend' predicts the fitted polynomial there\.",
        message,
    )
    # the largest headroom the message names fits, and predicts the quadratic
    largest = float(message.split("headroom <= ")[1].split(" ")[0])
    fitted = est.set_params(headroom=largest).fit(X, y)
    np.testing.assert_allclose(
        fitted.predict(X), y, atol=10 * tolerance * np.abs(y).max()
    )
