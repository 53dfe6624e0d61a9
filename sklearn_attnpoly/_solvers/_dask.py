"""Fitting from Dask arrays: each chunk's moments on the active scheduler.

``fit`` on a :class:`dask.array.Array` never gathers the rows: each chunk of
rows is reduced to a :class:`~sklearn_attnpoly._solvers._accumulator.MomentAccumulator`
where it lies, and the accumulators are summed pairwise in a tree, on whatever
scheduler is active (a ``distributed.Client``, or Dask's default). Two passes
over the data: the first for the inputs' and targets' weighted means and
spreads (the frame the second pass sums in), the second for the moments and
the farthest row, so that the model, its scaling included, is the one ``fit``
gives on the same rows in memory, to rounding. Dask is imported only when the
input already is a Dask array.
"""

import operator
import sys

import numpy as np

from .._scaling import AffineScaling, unit_if_zero
from ._accumulator import MomentAccumulator


def is_dask_array(X):
    """Whether ``X`` is a Dask array (imports nothing: one can exist only
    once ``dask.array`` has been imported)."""
    module = sys.modules.get("dask.array")
    return module is not None and isinstance(X, module.Array)


def dask_moments(X, y, sample_weight=None, *, degree):
    """The moments of the rows of Dask arrays, up to degree ``2 degree``.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
    y : dask or NumPy array of shape (n_samples,) or (n_samples, n_outputs)
    sample_weight : dask or NumPy array of shape (n_samples,), default=None
    degree : int
        The readout's degree ``q``.

    Returns
    -------
    MomentAccumulator
        In the frame of the rows' weighted means and spreads.
    """
    import dask
    import dask.array as da

    if X.ndim != 2 or any(np.isnan(X.shape)):
        raise ValueError(
            "X must be a 2-D Dask array with known chunk sizes (call "
            f"compute_chunk_sizes() first); got shape {X.shape}."
        )
    X = X.rechunk({1: -1})
    rows = X.chunks[0]
    y = da.asarray(y)
    if y.ndim not in (1, 2) or y.shape[0] != X.shape[0]:
        raise ValueError(
            f"y must have shape ({X.shape[0]},) or ({X.shape[0]}, n_outputs); "
            f"got {y.shape}."
        )
    Y = y.reshape(y.shape[0], -1).rechunk((rows, -1))
    w = da.ones(X.shape[0], chunks=(rows,)) if sample_weight is None else sample_weight
    w = da.asarray(w).rechunk((rows,))
    blocks = list(
        zip(
            X.to_delayed().ravel(),
            Y.to_delayed().ravel(),
            w.to_delayed().ravel(),
            strict=True,
        )
    )
    n_outputs = Y.shape[1]
    spread = _tree_sum(
        [
            dask.delayed(_block_moments)(*b, degree=1, n_outputs=n_outputs)
            for b in blocks
        ]
    ).compute()
    if spread.weight <= 0:
        raise ValueError("The rows have no positive weight.")
    std = unit_if_zero(np.sqrt(np.maximum(spread.variance(), 0.0)))
    frame = AffineScaling(shift=spread.mean(), scale=std)
    target_frame = spread.target_scaling()
    moments = [
        dask.delayed(_block_moments)(
            *b,
            degree=degree,
            n_outputs=n_outputs,
            frame=frame,
            target_frame=target_frame,
        )
        for b in blocks
    ]
    return _tree_sum(moments).compute()


def _block_moments(X, Y, w, *, degree, n_outputs, frame=None, target_frame=None):
    """One chunk's accumulator (its rows of positive weight)."""
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    for name, values in (("X", X), ("y", Y), ("sample_weight", w)):
        if not np.isfinite(values).all():
            raise ValueError(f"{name} contains NaN or infinity.")
    if (w < 0).any():
        raise ValueError("Negative values in sample_weight are not allowed.")
    keep = w > 0
    out = MomentAccumulator(X.shape[1], degree, n_outputs, frame, target_frame)
    if keep.any():
        out.update(X[keep], Y[keep], w[keep])
    return out


def _tree_sum(items):
    """Pairwise sums, level by level, of delayed accumulators."""
    import dask

    add = dask.delayed(operator.add)
    while len(items) > 1:
        pairs = [add(a, b) for a, b in zip(items[::2], items[1::2], strict=False)]
        items = pairs + ([items[-1]] if len(items) % 2 else [])
    return items[0]
