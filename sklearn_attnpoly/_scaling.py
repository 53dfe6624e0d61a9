"""Input and target scaling, and the guard that keeps inputs inside the bound.

Lemma 3.1 holds only while every ``|x_i|`` and ``|y_i|`` a block meets stays
under the ``M`` it was built with. The estimator therefore maps inputs with an
affine scaling ``x_tilde = (x - shift) / scale`` that puts the reference data
(the training rows, or the ball of ``radius`` of ``from_polynomial``) inside the
ball of radius ``bound``, and builds its blocks for the larger *guard radius*
``headroom * bound``. Rows beyond the guard radius are met by the
``out_of_bound`` policy: a warning, an error, or a projection onto the ball.
"""

import warnings
from dataclasses import dataclass

import numpy as np


class OutOfBoundWarning(UserWarning):
    """Rows lie outside the guard radius the frozen blocks were built for.

    For such rows the network's output is not the fitted polynomial.
    """


@dataclass(frozen=True)
class AffineScaling:
    """``x_tilde = (x - shift) / scale``, per feature."""

    shift: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, X, sample_weight, bound):
        """Standardise each feature, then shrink all of them by one factor so
        that the farthest row of positive weight lies at norm ``bound``."""
        shift = np.average(X, axis=0, weights=sample_weight)
        std = np.sqrt(np.average((X - shift) ** 2, axis=0, weights=sample_weight))
        std[std <= np.finfo(float).tiny] = 1.0
        farthest = np.linalg.norm((X - shift) / std, axis=1).max()
        if not np.isfinite(farthest) or farthest <= np.finfo(float).tiny:
            farthest = 1.0
        return cls(shift=shift, scale=std * farthest / bound)

    def transform(self, X):
        return (X - self.shift) / self.scale


@dataclass(frozen=True)
class TargetScaling:
    """``y_tilde = (y - mean) / scale``; the network learns ``y_tilde``."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, Y, sample_weight):
        mean = np.average(Y, axis=0, weights=sample_weight)
        scale = np.sqrt(np.average((Y - mean) ** 2, axis=0, weights=sample_weight))
        scale[scale <= np.finfo(float).tiny] = 1.0
        return cls(mean=mean, scale=scale)

    def transform(self, Y):
        return (Y - self.mean) / self.scale

    def inverse_transform(self, Y):
        return Y * self.scale + self.mean


def guard(X_scaled, radius, policy):
    """Apply the ``out_of_bound`` policy to scaled rows beyond ``radius``.

    Parameters
    ----------
    X_scaled : ndarray of shape (n_samples, n_features)
    radius : float
        The guard radius, in scaled units.
    policy : {"warn", "raise", "clip"}

    Returns
    -------
    ndarray
        ``X_scaled`` itself, or for ``"clip"`` a copy whose rows beyond
        ``radius`` are projected onto the sphere of that radius.
    """
    norms = np.linalg.norm(X_scaled, axis=1)
    outside = norms > radius
    n_outside = int(outside.sum())
    if n_outside == 0:
        return X_scaled
    message = (
        f"{n_outside} of {len(X_scaled)} rows lie outside the guard radius the "
        f"frozen blocks were built for (the farthest at {norms.max() / radius:.3g} "
        "times that radius, in scaled units)."
    )
    if policy == "raise":
        raise ValueError(
            message + " Refit on data that covers them, raise `headroom`, or set "
            "out_of_bound='warn' or 'clip'."
        )
    if policy == "clip":
        X_scaled = X_scaled.copy()
        X_scaled[outside] *= (radius / norms[outside])[:, None]
        warnings.warn(
            message + " They were projected onto it.", OutOfBoundWarning, stacklevel=3
        )
        return X_scaled
    warnings.warn(
        message + " Their predictions are not the fitted polynomial.",
        OutOfBoundWarning,
        stacklevel=3,
    )
    return X_scaled
