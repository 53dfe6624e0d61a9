"""The alarm for predictions far outside the training targets' range."""

import re
import warnings

import numpy as np
import pytest

from sklearn_attnpoly import (
    AttentionPolynomialRegressor,
    AttentionPolynomialRegressorCV,
    ExtrapolationWarning,
)

SOLVERS = {
    "lstsq": {},
    "varpro": {"n_directions": 3, "max_iter": 50},
    "sgd": {"max_epochs": 5},
    "adam": {"max_epochs": 5},
}


def _data(n, seed):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 3))
    y = X[:, 0] ** 3 - 2 * X[:, 1] * X[:, 2] + 0.1 * rng.normal(size=n)
    return X, y


@pytest.mark.parametrize("solver", SOLVERS)
def test_silent_on_rows_drawn_like_the_training_rows(solver):
    X, y = _data(2000, seed=0)
    est = AttentionPolynomialRegressor(
        degree=3, solver=solver, random_state=0, **SOLVERS[solver]
    ).fit(X, y)
    np.testing.assert_array_equal(est.target_range_, [[y.min()], [y.max()]])
    X_test, _ = _data(5000, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExtrapolationWarning)
        est.predict(X_test)


@pytest.mark.parametrize("solver", SOLVERS)
def test_a_planted_exploding_row_is_named(solver):
    X, y = _data(2000, seed=0)
    est = AttentionPolynomialRegressor(
        degree=3, solver=solver, random_state=0, **SOLVERS[solver]
    ).fit(X, y)
    X_test, _ = _data(99, seed=1)
    X_test = np.vstack([X_test, [[8.0, -8.0, 8.0]]])  # x1^3 + 2 * 64 = 640
    with pytest.warns(ExtrapolationWarning):
        predictions = est.predict(X_test)
    largest = np.abs(predictions[-1])
    assert largest > 300
    low, high = y.min(), y.max()
    width = high - low
    message = (
        "1 of 100 rows are predicted outside the training targets' range "
        f"widened by its width on each side, [{low - width:.4g}, "
        f"{high + width:.4g}] (the largest |prediction| is {largest:.4g}): the "
        "fitted polynomial extrapolates there. Check those rows for entry "
        "errors, or silence this with warnings.simplefilter('ignore', "
        "ExtrapolationWarning)."
    )
    with pytest.warns(ExtrapolationWarning, match=f"^{re.escape(message)}$"):
        est.predict(X_test)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", ExtrapolationWarning)  # the later wins
        np.testing.assert_array_equal(est.predict(X_test), predictions)


def test_each_output_has_its_range():
    X, y = _data(500, seed=0)
    Y = np.column_stack([y, 100 * y])
    est = AttentionPolynomialRegressor(degree=3).fit(X, Y)
    np.testing.assert_array_equal(est.target_range_, [Y.min(0), Y.max(0)])
    with pytest.warns(ExtrapolationWarning, match=r"^1 of 1 rows .*\], \["):
        est.predict([[8.0, -8.0, 8.0]])


def test_partial_fit_and_the_cv_refit_know_the_range_of_every_row():
    X, y = _data(900, seed=0)
    stream = AttentionPolynomialRegressor(degree=3)
    for rows in np.array_split(np.arange(900), 3):
        stream.partial_fit(X[rows], y[rows])
    stream.predict(X[:1])  # the solve, at the first prediction
    np.testing.assert_array_equal(stream.target_range_, [[y.min()], [y.max()]])
    cv = AttentionPolynomialRegressorCV(degrees=(2, 3), cv=3).fit(X, y)
    np.testing.assert_array_equal(
        cv.best_estimator_.target_range_, [[y.min()], [y.max()]]
    )
    with pytest.warns(ExtrapolationWarning, match="^1 of 1 rows"):
        cv.predict([[8.0, -8.0, 8.0]])


def test_rows_of_weight_zero_are_not_in_the_range():
    X, y = _data(300, seed=0)
    y[0] = 1e6  # an entry error, given no weight
    weight = np.ones(300)
    weight[0] = 0.0
    est = AttentionPolynomialRegressor(degree=3).fit(X, y, sample_weight=weight)
    np.testing.assert_array_equal(est.target_range_, [[y[1:].min()], [y[1:].max()]])


def test_a_model_built_from_a_polynomial_has_no_range_and_no_alarm():
    est = AttentionPolynomialRegressor.from_polynomial({(3,): 1.0})
    assert not hasattr(est, "target_range_")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert est.predict([[10.0]])[0] == pytest.approx(1000.0, rel=1e-9)
