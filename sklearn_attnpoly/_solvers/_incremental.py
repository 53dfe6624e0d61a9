"""``partial_fit``'s sums: each batch added to the moments of the ones before."""

import numpy as np
from sklearn.utils.validation import _check_sample_weight, column_or_1d

from .._scaling import AffineScaling, TargetScaling
from ._accumulator import MomentAccumulator


def accumulate_batch(moments, X, y, sample_weight, *, degree, bound):
    """The moments of the rows so far with the rows of this batch added.

    Parameters
    ----------
    moments : MomentAccumulator or None
        Those of the earlier batches (updated in place), or None for a first
        batch, whose scaling becomes the frame of all the sums.
    X : ndarray of shape (n_samples, n_features)
        Validated inputs.
    y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
    sample_weight : array-like of shape (n_samples,) or None
    degree, bound : the estimator's parameters.

    Returns
    -------
    MomentAccumulator
    """
    if y.ndim == 2 and y.shape[1] == 1:
        y = column_or_1d(y, warn=True)
    Y = y.reshape(len(y), -1)
    sample_weight = _check_sample_weight(
        sample_weight, X, dtype=np.float64, ensure_non_negative=True
    )
    keep = sample_weight > 0
    X, Y, sample_weight = X[keep], Y[keep], sample_weight[keep]
    if moments is None:  # (sample weights have a positive one: checked above)
        moments = MomentAccumulator(
            X.shape[1],
            degree,
            Y.shape[1],
            frame=AffineScaling.fit(X, sample_weight, bound),
            target_frame=TargetScaling.fit(Y, sample_weight),
        )
    elif Y.shape[1] != moments.n_outputs or degree != moments.degree:
        raise ValueError(
            f"This batch has {Y.shape[1]} target(s) for degree {degree}; the "
            f"moments summed so far have {moments.n_outputs} for degree "
            f"{moments.degree}. Call fit, or partial_fit from a fresh estimator, "
            "to start a new sum."
        )
    return moments.update(X, Y, sample_weight)
