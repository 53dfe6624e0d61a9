"""Lemma 3.3: every polynomial is a sum of powers of ridge forms.

For ``n_q = C(d - 1 + q, q)`` unit directions ``xi_k`` in general position, any
polynomial ``Q`` of degree at most ``q`` on R^d is

    Q(x) = Q(0) + sum_{k=1}^{n_q} sum_{s=1}^{q} beta_{k,s} (xi_k . x)**s      (1)

This module supplies the directions, solves (1) for ``beta`` given ``Q`` and
expands a given ``beta`` back into ``Q``. Both directions of the map go through
the same matrices: the degree-``s`` homogeneous part of (1) is
``c_s = V_s^T beta_s`` with ``V_s[k, alpha] = s!/alpha! * xi_k^alpha``.
"""

import math
from functools import lru_cache

import numpy as np
import scipy.linalg

from .._polynomial import homogeneous_exponents, multinomial_coefficients


def lattice_directions(n_features, degree):
    """Return the ``n_q`` unit directions ``a / ||a||``, ``a`` in N^d, ``|a| = q``.

    The lattice points of the simplex are unisolvent for homogeneous polynomials
    of degree ``q``, so the powers ``(xi . x)**q`` span that space (Lemma 3.3).
    The set is deterministic and well conditioned: the condition number of
    ``V_q`` is about 2 at ``d = 2, q = 2`` and about 482 at ``d = 10, q = 5``.

    Parameters
    ----------
    n_features : int
        ``d``, the dimension of the inputs.
    degree : int
        ``q``, the degree.

    Returns
    -------
    ndarray of shape (C(d - 1 + q, q), d)
        The directions, one per row.

    Examples
    --------
    >>> from sklearn_attnpoly.attention import lattice_directions
    >>> lattice_directions(2, 2).round(4)
    array([[1.    , 0.    ],
           [0.7071, 0.7071],
           [0.    , 1.    ]])
    """
    lattice = homogeneous_exponents(n_features, degree).astype(float)
    return lattice / np.linalg.norm(lattice, axis=1, keepdims=True)


def ridge_power_matrix(directions, degree):
    """``V_s[k, alpha] = s!/alpha! * xi_k^alpha`` for ``|alpha| = s = degree``.

    Row ``k`` holds the coefficients of ``(xi_k . x)**s`` over
    :func:`~sklearn_attnpoly._polynomial.homogeneous_exponents`.
    """
    directions = np.asarray(directions, dtype=float)
    exponents = homogeneous_exponents(directions.shape[1], degree)
    # table[k, j, a] = xi_kj ** a; then multiply the needed entries feature by feature
    table = directions[:, :, None] ** np.arange(degree + 1)
    powers = np.ones((len(directions), len(exponents)))
    for j in range(directions.shape[1]):
        powers *= table[:, j, exponents[:, j]]
    return powers * multinomial_coefficients(exponents)


def select_power_slots(directions, degree):
    """Return the mask of the ridge powers the exact readout uses.

    A copy of :func:`power_basis`'s mask (see there for the choice).

    Parameters
    ----------
    directions : ndarray of shape (n, d)
        The rows ``xi_k`` of ``F``.
    degree : int
        ``q``.

    Returns
    -------
    ndarray of shape (n, q) of bool
        ``[k, s - 1]``: whether the readout uses ``(xi_k . x)**s``.
    """
    return power_basis(directions, degree).mask.copy()


def solve_ridge_coefficients(directions, homogeneous_parts):
    """Solve (1): ``beta[k, s-1]`` with ``sum_k beta[k, s-1] V_s[k] = c_s``.

    Parameters
    ----------
    directions : ndarray of shape (n, d)
    homogeneous_parts : list of ndarray
        ``homogeneous_parts[s - 1]`` holds the coefficients of the degree-``s``
        part of ``Q`` over ``homogeneous_exponents(d, s)`` (shape ``(n_s,)`` or
        ``(n_s, n_outputs)``).

    Returns
    -------
    beta : ndarray of shape (n, q) or (n, q, n_outputs)
        Coefficients of ``t_k**s``; zero outside :func:`select_power_slots`'s
        mask. Where the directions are too few for degree ``s``, the closest
        representable part (least squares).
    """
    return power_basis(directions, len(homogeneous_parts)).coefficients(
        homogeneous_parts
    )


def expand_ridge_coefficients(directions, beta):
    """The inverse of :func:`solve_ridge_coefficients`: ``c_s = V_s^T beta_s``.

    ``beta`` has shape ``(n, q)`` or ``(n, q, n_outputs)``; the result is the
    list of homogeneous parts ``c_1, ..., c_q``.
    """
    return [
        ridge_power_matrix(directions, s).T @ beta[:, s - 1]
        for s in range(1, beta.shape[1] + 1)
    ]


# -- the basis of ridge powers the readout uses ---------------------------------

#: Directions this close to the lattice directions, entry by entry, are taken
#: for them: float32's rounding of a unit vector moves an entry by at most
#: 2^-24.
LATTICE_ATOL = 2.0**-22

#: An LU pivot below this fraction of the largest marks the remaining powers of
#: a degree as dependent on those already chosen.
PIVOT_RTOL = 1e-10


def power_basis(directions, degree):
    """The readout's basis of ridge powers for these directions, built once.

    For each degree ``s``, the ``n_q`` directions of degree ``q`` are more than
    the ``n_s`` that degree needs, and their degree-``s`` powers are linearly
    dependent: the exact readout uses ``rank(V_s)`` of them, a basis (the
    ``mask``), which makes ``beta`` unique. For the lattice directions of
    :func:`lattice_directions` the choice and the solve are explicit
    (:class:`LatticePowerBasis`, no factorisation); for any other directions
    they come from an LU factorisation of each ``V_s``
    (:class:`PivotedPowerBasis`). The result is cached per ``(d, q,
    directions)``: a fit, its refits and ``from_polynomial`` share it.

    Parameters
    ----------
    directions : ndarray of shape (n, d)
        The rows of ``F``.
    degree : int
        ``q``.

    Returns
    -------
    LatticePowerBasis or PivotedPowerBasis
        The basis: its ``mask`` and ``coefficients(parts)``.
    """
    directions = np.ascontiguousarray(directions, dtype=np.float64)
    n, d = directions.shape
    if n == math.comb(d - 1 + degree, degree):
        lattice = _lattice_basis(d, degree)
        # equal, or equal to float32's rounding (a float32 network's copy)
        if np.allclose(directions, lattice.directions, rtol=0, atol=LATTICE_ATOL):
            return lattice
    return _pivoted_basis(directions.tobytes(), n, d, degree)


@lru_cache(maxsize=16)
def _lattice_basis(n_features, degree):
    return LatticePowerBasis(n_features, degree)


@lru_cache(maxsize=4)  # an entry holds q LU factors of up to n x n_q entries
def _pivoted_basis(directions_bytes, n, d, degree):
    directions = np.frombuffer(directions_bytes).reshape(n, d)
    return PivotedPowerBasis(directions, degree)


class LatticePowerBasis:
    """The powers of the lattice directions ``xi_a = a / ||a||``, ``|a| = q``.

    Degree ``s`` uses the directions of the sub-lattice ``a = c_s + b``, ``|b|
    = s``, for a fixed ``c_s >= 0`` with ``|c_s| = q - s``, spread as evenly as
    the coordinates allow (all of them for ``s = q``). These points are a
    principal lattice of order ``s`` of a simplex, so their Lagrange
    polynomials are products of linear forms (Chung and Yao): in homogeneous
    form, with ``sigma(x) = sum_j x_j``,

        L_b(x) = prod_j prod_{i < b_j} (x_j - (c_j + i) sigma(x) / q) / b_j!,

    which is 1 at ``c_s + b`` and 0 at the other points. The apolar pairing
    ``<f, g> = sum_alpha f_alpha g_alpha alpha! / s!`` gives ``<f, (a . x)^s>
    = f(a)``, so the coefficients of ``Q_s = sum_b gamma_b ((c_s + b) . x)^s``
    are ``gamma_b = <L_b, Q_s> = L_b(D) Q_s / s!``: first-order differential
    operators applied to ``Q_s``, shared between the ``b`` with a common prefix
    (:func:`_apolar_coefficients`). No ``V_s`` is formed or factorised, and the
    residual ``||V_s^T beta - c_s||`` is at the rounding level of an LU solve
    (the tests check both).

    Parameters
    ----------
    n_features : int
    degree : int
    """

    def __init__(self, n_features, degree):
        self.points = homogeneous_exponents(n_features, degree)
        norms = np.linalg.norm(self.points, axis=1)
        self.directions = self.points / norms[:, None]
        self._norms = norms
        self.mask = np.zeros((len(self.points), degree), dtype=bool)
        self._offsets = []
        for s in range(1, degree + 1):
            spare = degree - s
            offset = np.full(n_features, spare // n_features)
            offset[: spare % n_features] += 1
            self._offsets.append(offset)
            self.mask[:, s - 1] = (self.points >= offset).all(axis=1)
        self.full_rank = np.ones(degree, dtype=bool)

    def coefficients(self, homogeneous_parts):
        """``beta`` (zero outside the mask) whose powers sum to the parts;
        see :func:`solve_ridge_coefficients`."""
        return _assemble(self, homogeneous_parts, self._solve)

    def _solve(self, s, part):
        q = self.mask.shape[1]
        gamma = _apolar_coefficients(part, s, self._offsets[s - 1], q)
        return gamma * self._norms[self.mask[:, s - 1], None] ** s


class PivotedPowerBasis:
    """The powers of any directions, chosen by LU factorisation of ``V_s``.

    Gaussian elimination with partial pivoting on the rows of ``V_s`` picks,
    deterministically, ``rank(V_s)`` directions whose powers form a basis (the
    pivot rows). Where that rank is ``n_s`` (enough directions), the LU factors
    of those rows solve for ``beta``; otherwise (``full_rank[s - 1]`` false) the
    readout works in the span of the chosen powers, :meth:`power_matrix`.

    Parameters
    ----------
    directions : ndarray of shape (n, d)
    degree : int
    """

    def __init__(self, directions, degree):
        n_directions = len(directions)
        self.mask = np.zeros((n_directions, degree), dtype=bool)
        self.full_rank = np.zeros(degree, dtype=bool)
        self._factors = []
        self._matrices = []
        for s in range(1, degree + 1):
            V = ridge_power_matrix(directions, s)
            lu, swaps = scipy.linalg.lu_factor(V, check_finite=False)
            pivots = np.abs(np.diag(lu))
            rows = np.arange(n_directions)  # rows[j]: the row of V moved to place j
            for j, swap in enumerate(swaps):
                rows[[j, swap]] = rows[[swap, j]]
            kept = rows[: len(pivots)][pivots > pivots.max() * PIVOT_RTOL]
            self.mask[kept, s - 1] = True
            self.full_rank[s - 1] = len(kept) == V.shape[1]
            if self.full_rank[s - 1]:  # V[rows[:n_s]] = L11 U
                n_s = V.shape[1]
                self._factors.append((lu[:n_s], rows[:n_s]))
                self._matrices.append(None)
            else:
                self._factors.append(None)
                self._matrices.append(V[self.mask[:, s - 1]])

    def power_matrix(self, s):
        """``V_s`` on the chosen directions, for a degree without a full basis."""
        return self._matrices[s - 1]

    def coefficients(self, homogeneous_parts):
        """``beta`` (zero outside the mask) whose powers sum to the parts;
        see :func:`solve_ridge_coefficients`."""
        return _assemble(self, homogeneous_parts, self._solve)

    def _solve(self, s, part):
        if self._factors[s - 1] is None:  # the closest representable part
            solution, *_ = scipy.linalg.lstsq(self._matrices[s - 1].T, part)
            return solution
        lu, rows = self._factors[s - 1]
        z = scipy.linalg.solve_triangular(lu, part, trans="T")
        z = scipy.linalg.solve_triangular(
            lu, z, trans="T", lower=True, unit_diagonal=True
        )
        # z is in pivot order; the mask lists rows in increasing order
        return z[np.argsort(rows)]


def _assemble(basis, homogeneous_parts, solve):
    first = np.asarray(homogeneous_parts[0])
    beta = np.zeros(basis.mask.shape + first.shape[1:])
    for s, part in enumerate(homogeneous_parts, start=1):
        part = np.asarray(part, dtype=np.float64)
        column = solve(s, part.reshape(len(part), -1))
        beta[basis.mask[:, s - 1], s - 1] = column.reshape((-1,) + part.shape[1:])
    return beta


def _apolar_coefficients(part, degree, offset, scale):
    """``gamma_b = L_b(D) p / (s! b!)`` for every ``|b| = s``, in the order of
    ``homogeneous_exponents(d, s)``, with ``L_b`` the product of the operators
    ``D_j - (offset_j + i) / scale * sum_l D_l``, ``i < b_j``
    (:class:`LatticePowerBasis`).

    The operators of variable 1 are applied first, then those of variable 2,
    and so on; the polynomials reached by a common prefix ``(b_1, ..., b_j)``
    are computed once. ``part`` has shape ``(n_s, n_columns)``.
    """
    n_variables = len(offset)
    unit = np.eye(n_variables, dtype=np.int64)
    # polynomials reached so far, by the degree r already taken: values of
    # shape (n_{s - r}, n_prefixes, n_columns) and the prefixes themselves
    reached = {0: (part[:, None, :], np.zeros((1, n_variables), dtype=np.int64))}
    for j in range(n_variables):
        collected = {}
        chain = reached
        for i in range(degree + 1):  # i operators of variable j applied
            for r, item in chain.items():
                collected.setdefault(r, []).append(item)
            t = (offset[j] + i) / scale
            chain = {
                r + 1: (
                    _lower(values, n_variables, degree - r, j, t),
                    prefixes + unit[j],
                )
                for r, (values, prefixes) in chain.items()
                if r < degree
            }
        reached = {
            r: (
                np.concatenate([values for values, _ in items], axis=1),
                np.concatenate([prefixes for _, prefixes in items]),
            )
            for r, items in collected.items()
        }
    values, prefixes = reached[degree]
    order = np.lexsort(prefixes.T[::-1])[::-1]  # lexicographically descending
    factorials = np.cumprod([1.0, *range(1, degree + 1)])
    norm = factorials[degree] * factorials[prefixes[order]].prod(axis=1)
    return values[0, order] / norm[:, None]


def _lower(values, n_variables, degree, j, t):
    """``(D_j - t sum_l D_l)`` applied to the homogeneous polynomials of
    ``degree`` in ``values`` (shape ``(n_degree, ...)``): by ``D_l x^a = a_l
    x^(a - e_l)``, entry ``a`` of the result gathers entries ``a + e_l``."""
    index, factor = _raising(n_variables, degree)
    shape = factor.shape + (1,) * (values.ndim - 1)
    gathered = values[index] * factor.reshape(shape)
    return gathered[j] - t * gathered.sum(axis=0)


@lru_cache(maxsize=64)
def _raising(n_variables, degree):
    """For each variable ``l`` and each exponent ``a`` of degree ``degree - 1``:
    the position of ``a + e_l`` among the exponents of ``degree``, and
    ``a_l + 1``."""
    upper = homogeneous_exponents(n_variables, degree)
    lower = homogeneous_exponents(n_variables, degree - 1)
    position = {tuple(a): i for i, a in enumerate(upper.tolist())}
    index = np.array(
        [
            [
                position[tuple(a[:l]) + (a[l] + 1,) + tuple(a[l + 1 :])]
                for a in lower.tolist()
            ]
            for l in range(n_variables)
        ],
        dtype=np.int64,
    ).reshape(n_variables, len(lower))
    return index, (lower.T + 1).astype(np.float64)
