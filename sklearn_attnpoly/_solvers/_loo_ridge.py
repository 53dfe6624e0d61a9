"""Ridge chosen by efficient leave-one-out, from one eigendecomposition.

For features ``Z`` centred under the weights ``w``, the ridge solution for
every ``a`` of a grid comes from one eigendecomposition ``Z^T W Z = V L V^T``:
``c(a) = V (L + a)^-1 V^T Z^T W y``. Its leave-one-out residuals need no
refit: with the rows rescaled by ``sqrt(w)`` (``z_n -> sqrt(w_n) z_n``,
``y_n -> sqrt(w_n) y_n``) and ``U = Z V``,

    e_n(a) = (y_n - z_n c(a)) / (1 - h_n(a) - w_n / sum(w)),
    h_n(a) = sum_j U_nj^2 / (L_j + a),

the last term the leverage of the unpenalised intercept. This is
:class:`~sklearn.linear_model.RidgeCV`'s ``gcv_mode="eigen"`` (its
``_RidgeGCV``, ``fit_intercept=True``, one ``alpha`` for all outputs): the
chosen ``a`` minimises the mean of ``e_n(a)^2`` over rows and outputs, the
first of the grid on ties. The varpro solver works with weights that sum to
1, and counts a row of weight ``k`` as ``k`` rows, each left out alone with a
``k``-th of its leverage (:meth:`EigenRidge.loo_squared_errors`'s
``copies``), so that weights and repeated rows give the same choice; with
weights of 1 that is RidgeCV's choice.
Eigenvalues below :data:`~sklearn_attnpoly._solvers._readout.RCOND` of the
largest, penalty included, are dropped (a pseudo-inverse), as the rest of the
package solves its ridge systems.

The rows enter twice -- once for ``Z^T W Z``, once for the residuals -- so
both passes take chunks of rows (:class:`EigenRidge` holds what is between
them); :func:`ridge_loo` is the same for arrays held whole.
"""

from typing import NamedTuple

import numpy as np
import scipy.linalg

from ._readout import RCOND


class LooRidge(NamedTuple):
    """The ridge chosen by leave-one-out.

    Attributes
    ----------
    alpha_ : float
        The chosen penalty.
    coef : ndarray of shape (n_features, n_outputs)
        The coefficients at ``alpha_``.
    intercept : ndarray of shape (n_outputs,)
    loo_mse : ndarray of shape (n_alphas,)
        For each penalty of the grid, the mean squared leave-one-out residual
        of the rows rescaled by ``sqrt(w)`` (``-best_score_`` of
        :class:`~sklearn.linear_model.RidgeCV` at the chosen one).
    """

    alpha_: float
    coef: np.ndarray
    intercept: np.ndarray
    loo_mse: np.ndarray


class EigenRidge:
    """``c(a) = (G + a I)^-1 r`` for a grid of ``a``, from one ``eigh(G)``.

    Parameters
    ----------
    gram : ndarray of shape (p, p)
        ``Z^T W Z``, ``Z`` centred under the weights.
    cross : ndarray of shape (p, n_outputs)
        ``Z^T W y``.
    alphas : array-like of shape (n_alphas,)
        Non-negative penalties.
    """

    def __init__(self, gram, cross, alphas):
        self.alphas = np.atleast_1d(np.asarray(alphas, dtype=np.float64))
        eigenvalues, self.V = scipy.linalg.eigh(gram)
        regularised = eigenvalues[:, None] + self.alphas
        keep = regularised > RCOND * regularised.max(axis=0)
        self.inverse = np.where(keep, 1.0 / np.where(keep, regularised, 1.0), 0.0)
        self.projected = self.V.T @ cross

    def coef(self, index):
        """``c(alphas[index])``, of shape ``(p, n_outputs)``."""
        return self.V @ (self.inverse[:, index, None] * self.projected)

    def loo_squared_errors(self, Z, y, w, total_weight, copies=None):
        """Sum over some rows of their squared leave-one-out residuals.

        Parameters
        ----------
        Z : ndarray of shape (rows, p)
            The rows' features, centred as ``gram`` was.
        y : ndarray of shape (rows, n_outputs)
            Their targets, centred likewise.
        w : ndarray of shape (rows,)
        total_weight : float
            ``sum(w)`` over all rows.
        copies : ndarray of shape (rows,), default=None
            How many rows each row stands for (its weight as given): each of
            its ``k`` copies is left out alone, with a ``k``-th of the row's
            leverage, so that a row of weight ``k`` and the row repeated ``k``
            times are scored alike (scikit-learn's sample-weight
            equivalence; a row counts as at least one). None: each row is one
            row, as :class:`~sklearn.linear_model.RidgeCV` counts them.

        Returns
        -------
        ndarray of shape (n_alphas,)
        """
        root = np.sqrt(w)[:, None]
        U = (root * Z) @ self.V
        leverage = (U * U) @ self.inverse + (w / total_weight)[:, None]
        fitted = U @ (self.inverse[:, :, None] * self.projected[:, None, :]).reshape(
            len(self.V), -1
        )
        residual = (root * y)[:, None, :] - fitted.reshape(len(Z), len(self.alphas), -1)
        if copies is not None:
            leverage = leverage / np.maximum(copies, 1.0)[:, None]
        residual /= (1.0 - leverage)[:, :, None]
        return (residual * residual).sum(axis=(0, 2))


def ridge_loo(X, Y, sample_weight, alphas):
    """Fit a ridge with an intercept, ``alpha`` chosen by leave-one-out.

    The same choice and coefficients as
    ``RidgeCV(alphas, fit_intercept=True).fit(X, Y, sample_weight)``, from one
    eigendecomposition of the ``p x p`` weighted Gram matrix.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    Y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
    sample_weight : ndarray of shape (n_samples,)
        Positive weights.
    alphas : array-like of shape (n_alphas,)

    Returns
    -------
    LooRidge
        ``coef`` of shape ``(n_features, n_outputs)``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import RidgeCV
    >>> from sklearn_attnpoly._solvers._loo_ridge import ridge_loo
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((50, 3))
    >>> y = X @ [1.0, 2.0, 0.0] + rng.standard_normal(50)
    >>> fit = ridge_loo(X, y, np.ones(50), [0.1, 1.0, 10.0])
    >>> ridge = RidgeCV(alphas=[0.1, 1.0, 10.0]).fit(X, y)
    >>> bool(fit.alpha_ == ridge.alpha_ and np.allclose(fit.coef[:, 0], ridge.coef_))
    True
    """
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64).reshape(len(X), -1)
    w = np.asarray(sample_weight, dtype=np.float64)
    total = w.sum()
    x_mean, y_mean = (w @ X) / total, (w @ Y) / total
    Z, y = X - x_mean, Y - y_mean
    ridge = EigenRidge(Z.T @ (w[:, None] * Z), Z.T @ (w[:, None] * y), alphas)
    loo_mse = ridge.loo_squared_errors(Z, y, w, total) / Y.size
    best = int(np.argmin(loo_mse))
    coef = ridge.coef(best)
    return LooRidge(float(ridge.alphas[best]), coef, y_mean - x_mean @ coef, loo_mse)
