"""Ridge solutions for a whole path of ``alpha`` from one factorisation.

Cross-validating ``alpha`` solves ``(A + a I) c = r`` for one symmetric ``A``
and many ``a``. A Cholesky factorisation per ``a`` costs ``p^3 / 3`` each;
instead ``A`` is reduced once to tridiagonal form, ``A = Q T Q^T`` (LAPACK's
``dsytrd``, ``4 p^3 / 3``), after which each ``a`` costs ``O(p)``: ``(T + a
I) y = Q^T r`` is a tridiagonal system and ``c = Q y``, with ``Q`` applied as
the Householder reflectors ``dsytrd`` leaves (``dormqr``). Where ``T + a I``
is too ill-conditioned for that (eigenvalues below ``RCOND`` of the largest),
the solution drops those directions, as
:func:`~sklearn_attnpoly._solvers._readout.solve_correlation_system` does.
"""

import numpy as np
import scipy.linalg
from scipy.linalg import lapack

from ._readout import RCOND


class RidgePath:
    """``c(a) = (A + a I)^-1 rhs`` for any ``a >= 0``, ``A`` symmetric positive
    semi-definite (its lower triangle is read).

    Parameters
    ----------
    A : ndarray of shape (p, p)
    rhs : ndarray of shape (p, n_outputs)
    """

    def __init__(self, A, rhs):
        p = len(A)
        self._p = p
        if p > 1:
            lwork = int(lapack.dsytrd_lwork(p, lower=1)[0])
            V, d, e, tau, info = lapack.dsytrd(A, lower=1, lwork=lwork)
            _check(info, "dsytrd")
            # reflector i is stored below the subdiagonal of column i: the
            # layout of a QR factorisation of A[1:, :-1] (LAPACK's dormtr)
            self._reflectors, self._tau = V[1:, :-1], tau
        else:
            d, e = np.diag(A).copy(), np.zeros(0)
        self._diagonal, self._off = d, e
        self._rhs = self._apply_q(np.array(rhs, dtype=np.float64), b"T")
        self.eigenvalues = scipy.linalg.eigvalsh_tridiagonal(d, e)
        self._vectors = None

    def _apply_q(self, B, trans):
        """``Q B`` (``trans=b"N"``) or ``Q^T B`` (``b"T"``); ``Q`` fixes row 0."""
        if self._p > 1:
            lwork = max(1, B.shape[1]) * 64
            B[1:], _, info = lapack.dormqr(
                b"L", trans, self._reflectors, self._tau, B[1:], lwork
            )
            _check(info, "dormqr")
        return B

    def solve(self, alphas):
        """The solutions for each of ``alphas``.

        Returns
        -------
        coef : ndarray of shape (len(alphas), p, n_outputs)
        ranks : ndarray of shape (len(alphas),)
            Directions solved for (``p`` unless some were dropped).
        """
        solutions, ranks = [], []
        for alpha in alphas:
            regularised = self.eigenvalues + alpha
            keep = regularised > RCOND * regularised.max()
            info = -1
            if keep.all() and self._p == 1:
                y, info = self._rhs / regularised[0], 0
            elif keep.all():  # positive definite: a tridiagonal LDL^T
                *_, y, info = lapack.dptsv(self._diagonal + alpha, self._off, self._rhs)
            if info != 0:
                if self._vectors is None:
                    self._vectors = scipy.linalg.eigh_tridiagonal(
                        self._diagonal, self._off
                    )[1]
                Z = self._vectors[:, keep]
                y = Z @ ((Z.T @ self._rhs) / regularised[keep][:, None])
            solutions.append(y)
            ranks.append(int(keep.sum()))
        Y = np.concatenate(solutions, axis=1)
        coef = self._apply_q(Y, b"N")
        n_outputs = self._rhs.shape[1]
        coef = coef.reshape(self._p, len(alphas), n_outputs).transpose(1, 0, 2)
        return coef, np.array(ranks)


def _check(info, routine):
    if info != 0:
        raise np.linalg.LinAlgError(f"LAPACK {routine} failed (info={info}).")
