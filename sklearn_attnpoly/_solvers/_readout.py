"""The readout ``beta, b`` in closed form: ridge on the standardised monomials.

Inside the radius the blocks were built for, slot ``k`` of direction ``i`` is
the polynomial ``(-1)^k (xi_i . x)^k`` (Lemma 3.1), and with enough directions
the slots span every polynomial of degree at most ``q``. The readout is
therefore fitted as a polynomial, in the monomial basis, and ``beta`` follows
from the polynomial's coefficients through the directions' basis of powers
(:func:`~sklearn_attnpoly.attention._directions.power_basis`): no slot is
computed and no product ``P^T H P`` is formed.

The problem solved is scikit-learn's

    make_pipeline(StandardScaler(), PolynomialFeatures(q, include_bias=False),
                  StandardScaler(), Ridge(alpha))

with the row weights passed to every step: the monomials ``m(x)`` of the
centred inputs, each standardised by its weighted mean and spread, and
``sum_n w_n (y_n - b - z_n . c_z)^2 + alpha ||c_z||^2`` minimised. The per-
feature scale of the inputs cancels in the standardised monomials, so the
estimator's own scaling (centred at the same weighted mean) gives the same
model. In correlation form, ``A = D^-1 G D^-1`` with ``G`` the centred Gram
matrix of the monomials and ``D^2`` its diagonal, this is ``(A + alpha / W I)
c_z = D^-1 r``, ``W`` the total weight.

When the directions are too few for some degree ``s`` (random directions, fewer
than ``C(d - 1 + s, s)``), the readout represents only the span of their
powers; the penalty is then ``alpha`` times the squared norm of the represented
polynomial's standardised-monomial coefficients, and the problem is solved in
an orthonormal basis of that span.

The normal equations come from the data's moments
(:mod:`~sklearn_attnpoly._solvers._moments`), ``N C(d + 2q, 2q)`` multiply-
adds and a ``p x p`` factorisation; with fewer rows than that costs, from the
``N x N`` kernel of the standardised monomials instead (the dual: ``N^2 p``
multiply-adds and an ``N x N`` factorisation), as scikit-learn's ``Ridge``
does when rows are fewer than features.
"""

from dataclasses import dataclass

import numpy as np
import scipy.linalg

from .._polynomial import MonomialTable, n_monomials
from ..attention import power_basis, readout_from_parts
from ._accumulator import MomentAccumulator
from ._moments import graded_exponents, n_moments

#: Eigenvalues of a regularised correlation-form system below this fraction of
#: the largest are treated as zero (a pseudo-inverse, like ``lstsq``'s rcond):
#: their directions carry no signal the data determines, only rounding noise.
RCOND = 1e-10

#: Cholesky is trusted when its smallest pivot is at least this fraction of the
#: largest. The ratio only bounds the condition number from below, and a tiny
#: ``alpha`` keeps a singular system formally positive definite, so the bar is
#: set well above ``RCOND``.
CHOLESKY_MIN_PIVOT = 1e-8


def solve_correlation_system(A, rhs, alpha):
    """Solve ``(A + alpha I) c = rhs`` for symmetric positive semi-definite ``A``
    (both triangles) with unit (or zero) diagonal. ``A`` is overwritten.

    Cholesky when ``A + alpha I`` is well conditioned; otherwise (a failed
    factorisation, or a pivot ratio below ``CHOLESKY_MIN_PIVOT``) an
    eigendecomposition that drops the directions whose regularised eigenvalue
    is below ``RCOND`` times the largest, which gives the minimum-norm solution
    and stays stable when the data leave some directions undetermined.

    The factorisation is done in ``A``'s memory, in one triangle; the other
    triangle and a copy of the diagonal keep ``A`` for the eigendecomposition.

    Returns
    -------
    coef : ndarray
    rank : int
        Number of directions solved for.
    """
    p = len(A)
    diagonal = np.diag(A).copy()
    A.flat[:: p + 1] += alpha
    # the Fortran-ordered view of a C-ordered A is A itself (symmetric): LAPACK
    # factorises its lower triangle, A's upper one, in place
    kept_lower = A.flags.c_contiguous
    try:
        factor = scipy.linalg.cho_factor(
            A.T if kept_lower else A, lower=True, overwrite_a=True, check_finite=False
        )
        pivots = np.diag(factor[0]) ** 2
        if pivots.min() > CHOLESKY_MIN_PIVOT * pivots.max():
            return scipy.linalg.cho_solve(factor, rhs, check_finite=False), p
    except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
        pass
    A.flat[:: p + 1] = diagonal
    eigenvalues, eigenvectors = scipy.linalg.eigh(
        A, lower=kept_lower, check_finite=False
    )
    regularised = eigenvalues + alpha
    keep = regularised > RCOND * regularised.max()
    V = eigenvectors[:, keep]
    coef = V @ ((V.T @ rhs) / regularised[keep][:, None])
    return coef, int(keep.sum())


def correlation_form(equations):
    """``A = D^-1 G D^-1`` and ``D^-1 r`` from centred normal equations, with
    ``D^2 = diag(G)``; ``A`` is ``G`` itself, scaled in place.

    A feature whose centred sum of squares is at the rounding level of its
    raw one (a constant, or a power of a binary input that repeats another)
    gets ``D = 1`` and a zero row and column: it carries no signal, and its
    computed spread is only cancellation error.

    Returns
    -------
    A : ndarray of shape (p, p)
    rhs : ndarray of shape (p, n_outputs)
    D : ndarray of shape (p,)
    """
    A = equations.gram
    D, constant = _spread(np.diag(A), equations.raw_diagonal, equations.n_samples)
    A /= D[:, None]
    A /= D[None, :]
    A[constant] = 0.0
    A[:, constant] = 0.0
    rhs = equations.cross / D[:, None]
    rhs[constant] = 0.0
    return A, rhs, D


def _spread(centred, raw, n_samples):
    """``D = sqrt(centred)``, and which features are constant: those whose
    centred sum of squares is within the rounding error of the raw one's
    (they get ``D = 1``)."""
    constant = centred <= n_samples * np.finfo(float).eps * raw
    return np.sqrt(np.where(constant, 1.0, centred)), constant


def ridge_monomials(equations, alpha, basis, degrees):
    """Ridge(alpha) of the targets on the standardised monomials.

    Parameters
    ----------
    equations : NormalEquations
        Of the monomials of degrees ``1..q`` (graded order).
    alpha : float
        Ridge's ``alpha`` (against the weighted sum of squared residuals).
    basis : power basis
        Where it lacks a full basis for a degree, the fit is restricted to the
        span of the powers it has (module docstring).
    degrees : ndarray of shape (p,)
        The degree of each monomial.

    Returns
    -------
    coef : ndarray of shape (p, n_outputs)
        Coefficients of the monomials (about the equations' origin).
    intercept : ndarray of shape (n_outputs,)
    restricted : dict
        ``{s: beta_s}`` for the degrees solved in a restricted span.
    rank : int
    """
    A, rhs, D = correlation_form(equations)
    span = _restricted_span(basis, degrees, D)
    if span:
        T = _span_matrix(span, degrees)
        A, rhs = T.T @ A @ T, T.T @ rhs
    coef, rank = solve_correlation_system(A, rhs, alpha / equations.weight)
    coef, restricted = _leave_span(coef, span, degrees)
    coef /= D[:, None]
    intercept = equations.target_mean - equations.mean @ coef
    return coef, intercept, restricted, rank


def _restricted_span(basis, degrees, D):
    """``{s: (Q_s, R_s)}``, ``Q_s R_s = D_s V_s^T``, for the degrees the basis
    does not fully span."""
    span = {}
    for s in np.flatnonzero(~basis.full_rank) + 1:
        V = basis.power_matrix(s)
        span[int(s)] = scipy.linalg.qr(D[degrees == s, None] * V.T, mode="economic")
    return span


def _span_matrix(span, degrees):
    """The block-diagonal ``T`` whose columns are the identity for fully
    spanned degrees and ``Q_s`` for the others."""
    columns = []
    for s in range(1, degrees.max() + 1):
        rows = degrees == s
        block = span[s][0] if s in span else np.eye(int(rows.sum()))
        column = np.zeros((len(degrees), block.shape[1]))
        column[rows] = block
        columns.append(column)
    return np.hstack(columns)


def _leave_span(coef, span, degrees):
    """Coordinates in ``T``'s columns back to standardised-monomial ones, and
    ``{s: beta_s = R_s^-1 gamma_s}`` for the restricted degrees."""
    if not span:
        return coef, {}
    restricted, start = {}, 0
    for s in range(1, degrees.max() + 1):
        width = span[s][0].shape[1] if s in span else int((degrees == s).sum())
        if s in span:
            gamma = coef[start : start + width]
            restricted[s] = scipy.linalg.solve_triangular(span[s][1], gamma)
        start += width
    return _span_matrix(span, degrees) @ coef, restricted


@dataclass(frozen=True)
class Readout:
    """A closed-form readout for fixed directions.

    Attributes
    ----------
    beta : ndarray of shape (n, q, n_outputs)
        Slot coefficients, as the network reads them (signs included); zero
        outside ``mask``.
    intercept : ndarray of shape (n_outputs,)
    mask : ndarray of shape (n, q) of bool
        The power basis the readout uses (Lemma 3.3's choice of slots).
    rank : int
        Directions of the ridge system solved for.
    method : {"moments", "dual"}
    """

    beta: np.ndarray
    intercept: np.ndarray
    mask: np.ndarray
    rank: int
    method: str


def _readout(directions, degree, coef, intercept, restricted, rank, method):
    """The :class:`Readout` of a ridge polynomial over the monomials."""
    degrees = graded_exponents(directions.shape[1], degree).sum(axis=1)
    parts = [coef[degrees == s] for s in range(1, degree + 1)]
    return Readout(
        beta=readout_from_parts(directions, parts, restricted),
        intercept=np.asarray(intercept, dtype=float),
        mask=power_basis(directions, degree).mask.copy(),
        rank=int(rank),
        method=method,
    )


def readout_from_moments(moments, directions, degree, alpha):
    """The ridge readout for ``directions`` from accumulated moments.

    Parameters
    ----------
    moments : MomentAccumulator
        In the network's units, about their origin
        (:meth:`~MomentAccumulator.in_units`).
    directions : ndarray of shape (n, d)
    degree : int
    alpha : float

    Returns
    -------
    Readout
    """
    directions = np.asarray(directions, dtype=np.float64)
    degrees = graded_exponents(directions.shape[1], degree).sum(axis=1)
    coef, intercept, restricted, rank = ridge_monomials(
        moments.normal_equations(degree),
        alpha,
        power_basis(directions, degree),
        degrees,
    )
    return _readout(directions, degree, coef, intercept, restricted, rank, "moments")


def choose_method(n_samples, n_features, degree):
    """``"dual"`` when the ``N x N`` kernel costs fewer operations than the
    moments and the ``p x p`` factorisation, ``"moments"`` otherwise."""
    p = n_monomials(n_features, degree)
    primal = 2 * n_samples * n_moments(n_features, degree) + p**3 / 3
    dual = n_samples**2 * p + n_samples**3 / 3
    return "dual" if dual < primal else "moments"


def solve_readout(X, Y, sample_weight, directions, degree, alpha, method="auto"):
    """The weighted ridge readout for fixed ``directions``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Scaled inputs, inside the blocks' radius.
    Y : ndarray of shape (n_samples, n_outputs)
        Scaled targets.
    sample_weight : ndarray of shape (n_samples,)
        Positive weights.
    directions : ndarray of shape (n, n_features)
    degree : int
    alpha : float
        Ridge's ``alpha`` on the standardised monomials (module docstring).
    method : {"auto", "moments", "dual"}, default="auto"
        ``"moments"``: the normal equations from the data's moments;
        ``"dual"``: the ``N x N`` kernel of the standardised monomials;
        ``"auto"`` picks the cheaper (:func:`choose_method`).

    Returns
    -------
    Readout
    """
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    directions = np.asarray(directions, dtype=np.float64)
    n_samples, n_features = X.shape
    if method == "auto":
        method = choose_method(n_samples, n_features, degree)
    if method == "moments":
        moments = MomentAccumulator(n_features, degree, Y.shape[1])
        # the scaled rows are centred: summed about the network's origin
        origin = (np.zeros(n_features), np.zeros(Y.shape[1]))
        moments.update(X, Y, sample_weight, origin=origin)
        return readout_from_moments(moments, directions, degree, alpha)
    exponents = graded_exponents(n_features, degree)
    coef, intercept, restricted, rank = _ridge_dual(
        X, Y, sample_weight, alpha, exponents, power_basis(directions, degree)
    )
    return _readout(directions, degree, coef, intercept, restricted, rank, "dual")


def _ridge_dual(X, Y, w, alpha, exponents, basis):
    """:func:`ridge_monomials` through the ``N x N`` kernel of the rows.

    With ``Z`` the rows' standardised monomials times ``sqrt(w)`` (correlation
    units), ``c_z = Z^T (Z Z^T + alpha / W I)^-1 sqrt(w) (y - ybar)``. The
    centred kernel has the null vector ``sqrt(w)``, orthogonal to the
    right-hand side; a rank-one term along it keeps the system definite
    without changing the solution.
    """
    degrees = exponents.sum(axis=1)
    table = MonomialTable(X.shape[1], int(degrees.max()))
    order = table.lookup(table.code(exponents))
    Z = table.values(X)[order]  # (p, n_samples): a feature per row
    W = w.sum()
    raw = np.einsum("ij,ij,j->i", Z, Z, w)
    mean = Z @ w / W
    Z -= mean[:, None]
    root = np.sqrt(w)
    Z *= root
    D, constant = _spread(np.einsum("ij,ij->i", Z, Z), raw, len(X))
    Z /= D[:, None]
    Z[constant] = 0.0
    span = _restricted_span(basis, degrees, D)
    if span:
        Z = _span_matrix(span, degrees).T @ Z
    K = scipy.linalg.blas.dsyrk(1.0, Z, trans=1, lower=1)  # Z^T Z, lower half
    K += np.tril(K, -1).T
    u = root / np.sqrt(W)
    K += (np.trace(K) / len(K)) * np.outer(u, u)
    y_mean = w @ Y / W
    a, rank = solve_correlation_system(K, root[:, None] * (Y - y_mean), alpha / W)
    coef, restricted = _leave_span(Z @ a, span, degrees)
    coef /= D[:, None]
    return coef, y_mean - mean @ coef, restricted, rank
