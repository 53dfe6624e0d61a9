"""The guard radius's own precision (``_guard.py``): a headroom the dtype cannot
hold is refused, with the largest one it can."""

import re

import numpy as np
import pytest
import torch

from sklearn_attnpoly import (
    AttentionPolynomialRegressor,
)
from sklearn_attnpoly._guard import RELATIVE_TOLERANCE, guard_rounding

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
        re.escape(
            f"headroom={headroom:g} builds the blocks for a guard radius of "
            f"{headroom:g} (the network's units), which rounds the training rows' "
            "powers with a relative error up to "
        )
        + r"\S+ in "
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
