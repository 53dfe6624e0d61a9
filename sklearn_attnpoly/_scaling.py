"""Input and target scaling: the frames the network works in.

The estimator maps inputs with an affine scaling ``x_tilde = (x - shift) /
scale`` that puts the reference data (the training rows, or the ball of
``radius`` of ``from_polynomial``) inside the ball of radius ``bound``, and
standardises the targets. What happens to rows beyond the blocks' guard
radius is :mod:`~sklearn_attnpoly._guard`'s.
"""

from dataclasses import dataclass

import numpy as np


def weighted_location_scale(A, weights):
    """Weighted mean and standard deviation of each column of ``A``, a
    standard deviation of 0 (a constant column) reported as 1.

    Computed on ``A`` divided by its largest ``|entry|`` per column, so that no
    square overflows for any finite data (``1e154`` squared would).
    """
    largest = np.abs(A).max(axis=0)
    largest[largest == 0] = 1.0
    unit = A / largest
    mean = np.average(unit, axis=0, weights=weights)
    std = np.sqrt(np.average((unit - mean) ** 2, axis=0, weights=weights))
    return mean * largest, unit_if_zero(std * largest)


def unit_if_zero(scale):
    """``scale`` with every entry at or below the smallest normal float set to
    1: a constant column is left as it is, not divided by zero."""
    scale = np.array(scale, dtype=float)
    scale[scale <= np.finfo(float).tiny] = 1.0
    return scale


def ball_scaling(shift, std, farthest, bound):
    """The :class:`AffineScaling` that standardises by ``shift, std``, then
    puts the row at standardised norm ``farthest`` at norm ``bound`` (a
    ``farthest`` of 0 or not finite: 1)."""
    if not np.isfinite(farthest) or farthest <= np.finfo(float).tiny:
        farthest = 1.0
    return AffineScaling(shift=shift, scale=std * farthest / bound)


@dataclass(frozen=True)
class AffineScaling:
    """``x_tilde = (x - shift) / scale``, per feature."""

    shift: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, X, sample_weight, bound):
        """Standardise each feature, then shrink all of them by one factor so
        that the farthest row of positive weight lies at norm ``bound``."""
        shift, std = weighted_location_scale(X, sample_weight)
        with np.errstate(over="ignore", invalid="ignore"):  # see transform
            farthest = row_norms((X - shift) / std).max()
        return ball_scaling(shift, std, farthest, bound)

    def transform(self, X):
        with np.errstate(over="ignore", invalid="ignore"):
            return _finite((X - self.shift) / self.scale, "X")


def training_radius(X):
    """The largest row norm of ``X`` (1 when it is 0 or not finite): the
    radius the blocks are built for when the data are taken as given."""
    with np.errstate(over="ignore", invalid="ignore"):
        radius = row_norms(X).max()
    return float(radius) if np.isfinite(radius) and radius > 0 else 1.0


@dataclass(frozen=True)
class TargetScaling:
    """``y_tilde = (y - mean) / scale``; the network learns ``y_tilde``."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, Y, sample_weight):
        return cls(*weighted_location_scale(Y, sample_weight))

    def transform(self, Y):
        with np.errstate(over="ignore", invalid="ignore"):
            return _finite((Y - self.mean) / self.scale, "y")

    def inverse_transform(self, Y):
        return Y * self.scale + self.mean


def _finite(scaled, name):
    """``scaled``, or a ValueError when centring overflowed: values near the
    largest float64 whose distance to the mean is not representable."""
    if not np.isfinite(scaled).all():
        raise ValueError(
            f"{name} spans more than float64 holds: its distance to the "
            "training mean overflows. Divide it by a constant first."
        )
    return scaled


def row_norms(X):
    """Euclidean norms of the rows of ``X``, without overflow in the squares
    (rows of ``1e160`` have norms; their squares would not)."""
    largest = np.abs(X).max(axis=1, keepdims=True)
    largest[largest == 0] = 1.0
    return largest[:, 0] * np.linalg.norm(X / largest, axis=1)


def fit_frames(X, Y, sample_weight, scaling, bound):
    """The input and target frames of a fit, and the radius the blocks are
    built for (before the headroom).

    ``scaling="ball"``: the rows standardised and shrunk into the ball of
    radius ``bound``, the targets standardised. ``"none"``: both as given, the
    radius the rows' own (:func:`training_radius`).

    Returns
    -------
    AffineScaling, TargetScaling, float
    """
    if scaling == "ball":
        return (
            AffineScaling.fit(X, sample_weight, bound),
            TargetScaling.fit(Y, sample_weight),
            bound,
        )
    n_features, n_outputs = X.shape[1], Y.shape[1]
    return (
        AffineScaling(np.zeros(n_features), np.ones(n_features)),
        TargetScaling(np.zeros(n_outputs), np.ones(n_outputs)),
        training_radius(X),
    )
