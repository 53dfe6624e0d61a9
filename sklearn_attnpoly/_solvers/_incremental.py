"""``partial_fit``'s sums: each batch added to the moments of the ones before."""

import copy

from .._scaling import AffineScaling, TargetScaling
from ._accumulator import MomentAccumulator


def accumulate_batch(moments, X, Y, sample_weight, *, degree, bound):
    """The moments of the rows so far with the rows of this batch added.

    Parameters
    ----------
    moments : MomentAccumulator or None
        Those of the earlier batches (left as they are), or None for a first
        batch, whose scaling becomes the frame of all the sums.
    X : ndarray of shape (n_samples, n_features)
        Validated inputs of positive weight.
    Y : ndarray of shape (n_samples, n_outputs)
    sample_weight : ndarray of shape (n_samples,)
        Their positive weights.
    degree, bound : the estimator's parameters.

    Returns
    -------
    MomentAccumulator
        A new accumulator: a call that fails after this one has lost nothing.
    """
    if moments is None:  # (sample weights have a positive one: checked above)
        return MomentAccumulator(
            X.shape[1],
            degree,
            Y.shape[1],
            frame=AffineScaling.fit(X, sample_weight, bound),
            target_frame=TargetScaling.fit(Y, sample_weight),
        ).update(X, Y, sample_weight)
    if Y.shape[1] != moments.n_outputs or degree != moments.degree:
        raise ValueError(
            f"This batch has {Y.shape[1]} target(s) for degree {degree}; the "
            f"moments summed so far have {moments.n_outputs} for degree "
            f"{moments.degree}. Call fit, or partial_fit from a fresh estimator, "
            "to start a new sum."
        )
    return copy.deepcopy(moments).update(X, Y, sample_weight)
