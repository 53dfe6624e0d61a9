"""Sufficient statistics of polynomial least squares, accumulated over rows.

A :class:`MomentAccumulator` holds, for the rows ``(x, y, w)`` added to it, all
that the weighted ridge regression of ``y`` on the monomials of ``x`` of degrees
``1..q`` needs (:mod:`~sklearn_attnpoly._solvers._moments`): the total weight,
the moments of ``x`` of degree ``<= 2q``, the cross moments with ``y`` of degree
``<= q`` and the targets' Gram matrix, all in float64 and all about an origin
``(c, c_y)``. Rows are added in batches (``partial_fit``), chunks of a Dask
array or folds of a cross-validation; each batch is summed about its own
weighted mean and batches are combined by moving both to their common mean
(:func:`~sklearn_attnpoly._solvers._moments.translate`): Chan, Golub and
LeVeque's pairwise update of the variance, carried to every degree, so that no
sum is taken far from the data it summarises. Within a batch, chunks of rows
are added by the BLAS into the sums (a blocked sum).

The rows are read in a *frame*, an affine map of the inputs and of the
targets fixed at creation (for ``partial_fit``, by the first batch), so that
the sums stay within float64's range and of comparable size whatever the
units of the data.
"""

import copy
from dataclasses import dataclass

import numpy as np
import scipy.linalg

from .._scaling import AffineScaling, TargetScaling, ball_scaling, unit_if_zero
from ._moments import (
    accumulate,
    graded_exponents,
    gram,
    moment_layout,
    translate,
    values,
)


class MomentAccumulator:
    """The weighted moments of the rows seen so far, about an origin.

    Parameters
    ----------
    n_features : int
    degree : int
        ``q``: the largest degree of the monomials regressed on.
    n_outputs : int
    frame : AffineScaling, default=None
        The inputs are summed as ``frame.transform(X)``; the identity if None.
    target_frame : TargetScaling, default=None
        The targets are summed as ``target_frame.transform(Y)``.

    Attributes
    ----------
    weight : float
        ``W = sum w``.
    n_samples : int
        Rows added.
    origin, target_origin : ndarray
        ``c`` and ``c_y``, in frame units.
    moments : ndarray of shape (C(d + 2q, 2q),)
        ``sum w (x - c)^g``, ``|g| <= 2q``.
    cross : ndarray of shape (n_outputs, C(d + q, q))
        ``sum w (y_o - c_yo) (x - c)^a``, ``|a| <= q``.
    target_gram : ndarray of shape (n_outputs, n_outputs)
        ``sum w (y - c_y)(y - c_y)^T``.
    max_norm : float
        The largest ``||x||`` of a row (frame units, about the frame's origin).
    target_low, target_high : ndarray of shape (n_outputs,)
        The smallest and largest target of a row, in the caller's units (a
        difference of accumulators keeps the first one's).
    """

    def __init__(self, n_features, degree, n_outputs, frame=None, target_frame=None):
        self.degree = degree
        self.frame = frame or AffineScaling(np.zeros(n_features), np.ones(n_features))
        self.target_frame = target_frame or TargetScaling(
            np.zeros(n_outputs), np.ones(n_outputs)
        )
        self.weight = 0.0
        self.n_samples = 0
        self.origin = np.zeros(n_features)
        self.target_origin = np.zeros(n_outputs)
        self.moments = np.zeros(self.layout.n_moments)
        self.cross = np.zeros((n_outputs, self.cross_layout.n_moments))
        self.target_gram = np.zeros((n_outputs, n_outputs))
        self.max_norm = 0.0
        self.target_low = np.full(n_outputs, np.inf)
        self.target_high = np.full(n_outputs, -np.inf)

    @property
    def n_features(self):
        return len(self.origin)

    # the layouts are shared, and not pickled with the sums (Dask ships these)
    @property
    def layout(self):
        return moment_layout(self.n_features, 2 * self.degree)

    @property
    def cross_layout(self):
        return moment_layout(self.n_features, self.degree)

    @property
    def n_outputs(self):
        return len(self.target_origin)

    # -- adding rows ------------------------------------------------------------

    def update(self, X, Y, sample_weight, origin=None):
        """Add rows (in the caller's units; the frames are applied here).

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
        Y : ndarray of shape (n_samples, n_outputs)
        sample_weight : ndarray of shape (n_samples,)
            Positive weights.
        origin : tuple of ndarray, default=None
            The point ``(c, c_y)`` (frame units) the rows are summed about;
            their weighted mean if None. Centred rows summed into an empty
            accumulator about the origin they are solved about need no
            translation.

        Returns
        -------
        self
        """
        batch = self._empty_like()
        if len(Y):
            batch.target_low, batch.target_high = Y.min(axis=0), Y.max(axis=0)
        batch._sum_rows(
            self.frame.transform(X),
            self.target_frame.transform(Y),
            sample_weight,
            origin,
        )
        merged = self + batch
        self.__dict__.update(merged.__dict__)
        return self

    def _sum_rows(self, X, Y, w, origin):
        """The statistics of these rows (frame units) about ``origin``."""
        total = float(w.sum())
        if origin is None:
            origin = (w @ X / total, w @ Y / total)
        self.origin, self.target_origin = (np.asarray(o, float) for o in origin)
        X = X - self.origin
        Y = Y - self.target_origin
        unit = bool(np.all(w == w[0]))
        accumulate(
            self.layout,
            self.moments,
            X,
            None if unit else w,
            cross=(self.cross_layout, self.cross),
            targets=Y,
        )
        if unit:  # every row weighs w[0]
            self.moments *= w[0]
            self.cross *= w[0]
        self.target_gram = Y.T @ (w[:, None] * Y)
        self.weight = total
        self.n_samples = len(X)
        self.max_norm = float(np.linalg.norm(X + self.origin, axis=1).max())

    # -- combining ----------------------------------------------------------------

    def mean(self):
        """The weighted mean of the rows (frame units)."""
        first = values(self.layout, self.moments, np.eye(self.n_features, dtype=int))
        return self.origin + first / self.weight

    def variance(self):
        """The weighted variance of each input (frame units)."""
        eye = np.eye(self.n_features, dtype=int)
        first = values(self.layout, self.moments, eye) / self.weight
        return values(self.layout, self.moments, 2 * eye) / self.weight - first**2

    def target_mean(self):
        return self.target_origin + self.cross[:, 0] / self.weight

    def moved(self, origin, target_origin):
        """The same statistics about another origin."""
        out = copy.copy(self)
        shift = np.asarray(origin, dtype=np.float64) - self.origin
        shift_y = np.asarray(target_origin, dtype=np.float64) - self.target_origin
        out.moments = translate(self.layout, self.moments, shift)
        cross = translate(self.cross_layout, self.cross, shift)
        # sum w (y - c_y - d)(x - c')^a = cross_a - d * mu_a(x - c')
        low = values(self.layout, out.moments, self.cross_layout.exponents)
        sums_y = self.cross[:, 0].copy()  # sum w (y - c_y)
        out.cross = cross - shift_y[:, None] * low[None, :]
        out.target_gram = (
            self.target_gram
            - np.outer(sums_y, shift_y)
            - np.outer(shift_y, sums_y)
            + self.weight * np.outer(shift_y, shift_y)
        )
        out.origin = self.origin + shift
        out.target_origin = self.target_origin + shift_y
        return out

    def __add__(self, other):
        return self._combine(other, 1.0)

    def __sub__(self, other):
        """The statistics of the rows of ``self`` that are not in ``other``
        (``other``'s rows must be among ``self``'s)."""
        return self._combine(other, -1.0)

    def _combine(self, other, sign):
        if other.weight == 0:
            return copy.copy(self)
        if self.weight == 0 and sign > 0:
            return copy.copy(other)
        weight = self.weight + sign * other.weight
        # about the combined weighted mean
        centre = (
            self.weight * self.mean() + sign * other.weight * other.mean()
        ) / weight
        target = (
            self.weight * self.target_mean() + sign * other.weight * other.target_mean()
        ) / weight
        a, b = self.moved(centre, target), other.moved(centre, target)
        a.moments = a.moments + sign * b.moments
        a.cross = a.cross + sign * b.cross
        a.target_gram = a.target_gram + sign * b.target_gram
        a.weight = weight
        a.n_samples = self.n_samples + int(sign) * other.n_samples
        a.max_norm = max(self.max_norm, other.max_norm)
        if sign > 0:
            a.target_low = np.minimum(self.target_low, other.target_low)
            a.target_high = np.maximum(self.target_high, other.target_high)
        return a

    def _empty_like(self):
        return MomentAccumulator(
            self.n_features, self.degree, self.n_outputs, self.frame, self.target_frame
        )

    # -- what the solvers read ------------------------------------------------------

    def scaling(self, bound):
        """The estimator's input scaling for these rows: centred at their
        weighted mean, per-feature spread of the frame, and every row at norm
        at most ``bound`` (the farthest, about the frame's origin, at most
        :attr:`max_norm`, is at most ``max_norm + ||mean||`` from the mean)."""
        mean = self.mean()
        farthest = self.max_norm + np.linalg.norm(mean)
        return ball_scaling(
            self.frame.shift + self.frame.scale * mean,
            self.frame.scale,
            farthest,
            bound,
        )

    def target_scaling(self):
        """The weighted mean and spread of the targets, in the caller's units."""
        centred = self.moved(self.origin, self.target_mean())
        spread = unit_if_zero(np.sqrt(np.diag(centred.target_gram) / self.weight))
        return TargetScaling(
            mean=self.target_frame.mean + self.target_frame.scale * self.target_mean(),
            scale=self.target_frame.scale * spread,
        )

    def in_units(self, scaling, target_scaling):
        """The same statistics in the units of ``scaling`` and
        ``target_scaling`` (the network's), about their origin (0, 0)."""
        origin = (scaling.shift - self.frame.shift) / self.frame.scale
        target = (
            target_scaling.mean - self.target_frame.mean
        ) / self.target_frame.scale
        out = self.moved(origin, target)
        ratio = self.frame.scale / scaling.scale  # per feature: new units per old
        y_ratio = self.target_frame.scale / target_scaling.scale
        out.moments = out.moments * _monomial_factors(self.layout.exponents, ratio)
        factors = _monomial_factors(self.cross_layout.exponents, ratio)
        out.cross = out.cross * factors[None, :] * y_ratio[:, None]
        out.target_gram = out.target_gram * np.outer(y_ratio, y_ratio)
        out.max_norm = self.max_norm  # not carried over: only scaling() reads it
        out.frame, out.target_frame = scaling, target_scaling
        out.origin = np.zeros(self.n_features)
        out.target_origin = np.zeros(self.n_outputs)
        return out

    def normal_equations(self, degree=None):
        """The centred normal equations of the monomials of degrees ``1..degree``
        (default ``q``) about the origin, from the moments.

        Returns
        -------
        NormalEquations
        """
        degree = self.degree if degree is None else degree
        exponents = graded_exponents(self.n_features, degree)
        W = self.weight
        raw = gram(self.layout, self.moments, exponents)
        raw_diagonal = np.diag(raw).copy()
        mean = values(self.layout, self.moments, exponents) / W
        # raw - W mean mean^T, in place (raw.T is the same array, Fortran order)
        centred = scipy.linalg.blas.dger(-W, mean, mean, a=raw.T, overwrite_a=1).T
        sums_y = self.cross[:, 0]
        cross = values(self.cross_layout, self.cross, exponents).T
        return NormalEquations(
            gram=centred,
            raw_diagonal=raw_diagonal,
            cross=cross - np.outer(mean, sums_y),
            mean=mean,
            target_mean=self.target_origin + sums_y / W,
            target_gram=self.target_gram - np.outer(sums_y, sums_y) / W,
            weight=W,
            n_samples=self.n_samples,
        )


def _monomial_factors(exponents, ratio):
    """``prod_j ratio_j ** g_j`` for each row ``g`` of ``exponents``."""
    return np.prod(ratio[None, :] ** exponents, axis=1)


@dataclass(frozen=True)
class NormalEquations:
    """The centred normal equations of a weighted least-squares problem.

    ``gram = sum w (m - mean)(m - mean)^T``, ``cross = sum w (m - mean)(y -
    target_mean)^T`` and ``target_gram = sum w (y - target_mean)(y -
    target_mean)^T`` for features ``m`` and targets ``y``; ``raw_diagonal`` is
    ``sum w m^2`` (about the origin), against which the cancellation in
    ``gram``'s diagonal is judged.
    """

    gram: np.ndarray
    raw_diagonal: np.ndarray
    cross: np.ndarray
    mean: np.ndarray
    target_mean: np.ndarray
    target_gram: np.ndarray
    weight: float
    n_samples: int
