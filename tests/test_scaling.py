"""scaling="none" (the data as given) against the scaled units, and the
gradient path from a zero readout."""

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from sklearn_attnpoly import AttentionPolynomialRegressor
from sklearn_attnpoly.paper.datasets import make_paper_f1, paper_f1


def _quadratic(seed=0, n=400, scale=5.0, shift=2.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)) * scale + shift
    y = X[:, 0] ** 2 - 3 * X[:, 1] * X[:, 2] + 1
    return X, y


def test_the_data_as_given_fit_the_same_polynomial():
    X, y = _quadratic()
    ball = AttentionPolynomialRegressor(degree=2).fit(X, y)
    given = AttentionPolynomialRegressor(degree=2, scaling="none").fit(X, y)
    X_test = _quadratic(seed=1, n=50)[0]
    scale = np.abs(ball.predict(X_test)).max()
    np.testing.assert_allclose(
        given.predict(X_test), ball.predict(X_test), atol=1e-9 * scale
    )
    # the blocks are built for headroom times the rows' own radius
    assert given.guard_radius_ == pytest.approx(2.0 * np.linalg.norm(X, axis=1).max())
    coefficients = given.to_polynomial()
    assert coefficients[(2, 0, 0)] == pytest.approx(1.0, abs=1e-9)
    assert coefficients[(0, 1, 1)] == pytest.approx(-3.0, abs=1e-9)


def test_raw_data_too_far_out_for_the_dtype_is_refused():
    X, y = _quadratic(scale=500.0)
    with pytest.raises(ValueError, match="with scaling='none', the data's own"):
        AttentionPolynomialRegressor(degree=5, scaling="none", dtype="float32").fit(
            X, y
        )
    with pytest.raises(ValueError, match="partial_fit sum the data's moments"):
        AttentionPolynomialRegressor(scaling="none").partial_fit(X, y)


@pytest.mark.slow
def test_adam_trains_from_a_zero_readout_in_the_scaled_units():
    """The paper's f1 and budget (600 epochs of batch 5000, 10 directions), a
    zero readout, the default scaling and Adam at lr 1e-2: the noiseless
    target to better than 0.05 (the paper reports 0.02). The slots are
    divided by their sizes for the steps; the network is the same function."""
    X, y = make_paper_f1(random_state=0)
    X_train, X_test, y_train, _ = train_test_split(X, y, test_size=0.1, random_state=0)
    est = AttentionPolynomialRegressor(
        2, n_directions=10, solver="adam", lr=1e-2, max_epochs=600, batch_size=5000,
        readout_init="zeros", random_state=0,
    ).fit(X_train, y_train)  # fmt: skip
    assert np.mean((est.predict(X_test) - paper_f1(X_test)) ** 2) <= 0.05
    scales = est.net_.module_.slot_scale.numpy()
    assert scales[1] < scales[0] < 1  # |t| <= 1: t^2 is the smaller slot
    from sklearn_attnpoly._polynomial import evaluate

    np.testing.assert_allclose(
        evaluate(est.to_polynomial(), X_test), est.predict(X_test), rtol=1e-9, atol=1e-6
    )
