"""The fit prologue every estimator shares: validated rows, their targets as
columns, and their weights, with the rows of weight zero dropped."""

import numpy as np
from sklearn.utils.validation import (
    _check_sample_weight,
    check_array,
    column_or_1d,
    validate_data,
)


def validate_fit_data(
    estimator, X, y, sample_weight, *, reset=True, drop_zero_weight=True
):
    """``X``, ``Y`` and the weights of the rows of positive weight, in float64.

    ``validate_data`` sets (``reset=True``) or checks ``n_features_in_`` and
    ``feature_names_in_``; a column vector ``y`` warns as scikit-learn's
    regressors do; non-negative weights are checked.

    Parameters
    ----------
    estimator : estimator instance
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
    sample_weight : array-like of shape (n_samples,) or None
    reset : bool, default=True
        As :func:`~sklearn.utils.validation.validate_data`'s.
    drop_zero_weight : bool, default=True
        Whether the rows of weight zero are dropped (a splitter that must see
        every row keeps them).

    Returns
    -------
    X : ndarray of shape (n_kept, n_features)
        The rows of positive weight (all rows with ``drop_zero_weight=False``).
    Y : ndarray of shape (n_kept, n_outputs)
    sample_weight : ndarray of shape (n_kept,)

    Examples
    --------
    >>> from sklearn.linear_model import LinearRegression
    >>> X, Y, w = validate_fit_data(
    ...     LinearRegression(), [[0.0], [1.0], [2.0]], [1, 2, 3], [1, 0, 2])
    >>> X.ravel(), Y.ravel(), w
    (array([0., 2.]), array([1., 3.]), array([1., 2.]))
    """
    X, y = validate_data(
        estimator,
        X,
        y,
        reset=reset,
        multi_output=True,
        y_numeric=True,
        dtype=np.float64,
    )
    # y_numeric converts only object arrays; strings fail here, in one line
    y = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
    if y.ndim == 2 and y.shape[1] == 1:
        y = column_or_1d(y, warn=True)
    sample_weight = _check_sample_weight(
        sample_weight, X, dtype=np.float64, ensure_non_negative=True
    )
    Y = y.reshape(len(y), -1)
    if not drop_zero_weight:
        return X, Y, sample_weight
    keep = sample_weight > 0
    return X[keep], Y[keep], sample_weight[keep]
