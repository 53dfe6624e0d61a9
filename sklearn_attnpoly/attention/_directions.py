"""Lemma 3.3: every polynomial is a sum of powers of ridge forms.

For ``n_q = C(d - 1 + q, q)`` unit directions ``xi_k`` in general position, any
polynomial ``Q`` of degree at most ``q`` on R^d is

    Q(x) = Q(0) + sum_{k=1}^{n_q} sum_{s=1}^{q} beta_{k,s} (xi_k . x)**s      (1)

This module supplies the directions, solves (1) for ``beta`` given ``Q`` and
expands a given ``beta`` back into ``Q``. Both directions of the map go through
the same matrices: the degree-``s`` homogeneous part of (1) is
``c_s = V_s^T beta_s`` with ``V_s[k, alpha] = s!/alpha! * xi_k^alpha``.
"""

import numpy as np
import scipy.linalg

from .._polynomial import homogeneous_exponents, multinomial_coefficients


def lattice_directions(n_features, degree):
    """The ``n_q`` unit directions ``a / ||a||`` for ``a`` in N^d, ``|a| = q``.

    The lattice points of the simplex are unisolvent for homogeneous polynomials
    of degree ``q``, so the powers ``(xi . x)**q`` span that space (Lemma 3.3).
    The set is deterministic and well conditioned: the condition number of
    ``V_q`` is about 2 at ``d = 2, q = 2`` and about 482 at ``d = 10, q = 5``.

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
    """Which powers ``(xi_k . x)**s`` the exact readout uses: an ``(n, q)`` mask.

    The ``n_q`` directions of degree ``q`` are more than the ``n_s`` that degree
    ``s < q`` needs; their degree-``s`` powers are linearly dependent. Gaussian
    elimination with partial pivoting on the rows of ``V_s`` picks,
    deterministically, ``rank(V_s)`` directions whose powers form a basis (the
    pivot rows). With the mask the readout features are exactly as many as the
    monomials of degrees 1..q, and ``beta`` is unique.
    """
    n_directions = len(directions)
    mask = np.zeros((n_directions, degree), dtype=bool)
    for s in range(1, degree + 1):
        V = ridge_power_matrix(directions, s)
        lu, swaps = scipy.linalg.lu_factor(V, check_finite=False)
        pivots = np.abs(np.diag(lu))
        rows = np.arange(n_directions)  # rows[j]: the row of V moved to place j
        for j, swap in enumerate(swaps):
            rows[[j, swap]] = rows[[swap, j]]
        pivot_rows = rows[: len(pivots)]  # V[pivot_rows] = L U
        mask[pivot_rows[pivots > pivots.max() * 1e-10], s - 1] = True
    return mask


def solve_ridge_coefficients(directions, homogeneous_parts, mask):
    """Solve (1): ``beta[k, s-1]`` with ``sum_k beta[k, s-1] V_s[k] = c_s``.

    Parameters
    ----------
    directions : ndarray of shape (n, d)
    homogeneous_parts : list of ndarray
        ``homogeneous_parts[s - 1]`` holds the coefficients of the degree-``s``
        part of ``Q`` over ``homogeneous_exponents(d, s)``.
    mask : ndarray of shape (n, q), dtype bool
        The powers allowed to be non-zero (:func:`select_power_slots`).

    Returns
    -------
    beta : ndarray of shape (n, q)
        Coefficients of ``t_k**s``; zero outside ``mask``.
    """
    beta = np.zeros(mask.shape)
    for s, c_s in enumerate(homogeneous_parts, start=1):
        rows = mask[:, s - 1]
        V = ridge_power_matrix(directions[rows], s)
        if V.shape[0] == V.shape[1]:
            solution = scipy.linalg.solve(V.T, c_s)
        else:  # too few directions for degree s: the closest representable part
            solution, *_ = scipy.linalg.lstsq(V.T, c_s)
        beta[rows, s - 1] = solution
    return beta


def expand_ridge_coefficients(directions, beta):
    """The inverse of :func:`solve_ridge_coefficients`: ``c_s = V_s^T beta_s``.

    ``beta`` has shape ``(n, q)`` or ``(n, q, n_outputs)``; the result is the
    list of homogeneous parts ``c_1, ..., c_q``.
    """
    return [
        ridge_power_matrix(directions, s).T @ beta[:, s - 1]
        for s in range(1, beta.shape[1] + 1)
    ]
