"""The one map between a polynomial and the network's ``(F, beta, b)``.

Inside the blocks' radius, slot ``k`` of direction ``i`` holds ``(-1)^k
t_i^k`` with ``t_i = xi_i . x`` (Lemma 3.1), so the readout ``sum_ik beta_ik
(-1)^k t_i^k + b`` is the polynomial whose degree-``s`` part is ``sum_i
(-1)^s beta_is (xi_i . x)^s``. Lemma 3.3's system (1) gives ``beta`` from the
homogeneous parts; the product with the ridge power matrices gives the parts
back. Every path between the two forms goes through these functions: the
exact construction of a given polynomial, the closed-form readout (fitted as
a polynomial), and the fitted network read out as a polynomial, in monomials
or in its compact ridge form.
"""

import numpy as np

from ._directions import lattice_directions, power_basis, ridge_power_matrix
from ._fused_chain import slot_signs


def readout_from_parts(directions, parts, restricted=None):
    """The readout ``beta`` (slot units, signs included) of a polynomial.

    Parameters
    ----------
    directions : ndarray of shape (n, d)
        The rows ``xi_i`` of ``F``.
    parts : list of ndarray
        ``parts[s - 1]``: the coefficients of the degree-``s`` part over
        :func:`~sklearn_attnpoly._polynomial.homogeneous_exponents` ``(d, s)``,
        of shape ``(n_s,)`` or ``(n_s, n_outputs)``.
    restricted : dict of int to ndarray, default=None
        ``{s: beta_s}``: for degrees the directions do not fully span, the
        coefficients of the basis's powers, solved in that span already.

    Returns
    -------
    beta : ndarray of shape (n, q) or (n, q, n_outputs)
        Zero outside the power basis's mask; where the directions are too few
        for degree ``s``, the closest representable part (least squares).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_attnpoly.attention import (
    ...     lattice_directions, parts_from_readout, readout_from_parts)
    >>> F = lattice_directions(2, 2)
    >>> parts = [np.array([1.0, 0.0]), np.array([1.0, 0.0, 1.0])]  # x1 + |x|^2
    >>> beta = readout_from_parts(F, parts)
    >>> [np.round(p, 12) + 0.0 for p in parts_from_readout(F, beta)]
    [array([1., 0.]), array([1., 0., 1.])]
    """
    basis = power_basis(directions, len(parts))
    beta = basis.coefficients(parts)
    for s, beta_s in (restricted or {}).items():
        beta[basis.mask[:, s - 1], s - 1] = beta_s
    return ridge_coefficients(beta)  # the sign flip is its own inverse


def parts_from_readout(directions, beta):
    """The homogeneous parts of the polynomial a readout computes.

    The inverse of :func:`readout_from_parts`: ``c_s = (-1)^s V_s^T
    beta_s``, ``V_s`` the ridge power matrix of degree ``s``.

    Parameters
    ----------
    directions : ndarray of shape (n, d)
        The rows of ``F``.
    beta : ndarray of shape (n, q) or (n, q, n_outputs)
        Slot coefficients (signs included, as the network's ``readout()``).

    Returns
    -------
    list of ndarray
        ``c_1, ..., c_q``, each ``(n_s,)`` or ``(n_s, n_outputs)``.
    """
    c = ridge_coefficients(beta)
    return [
        ridge_power_matrix(directions, s).T @ c[:, s - 1]
        for s in range(1, beta.shape[1] + 1)
    ]


def ridge_coefficients(beta):
    """Each direction's polynomial in ``t``: ``g_i(t) = sum_k c_ik t^k``.

    Parameters
    ----------
    beta : ndarray of shape (n, q) or (n, q, n_outputs)
        Slot coefficients (signs included).

    Returns
    -------
    ndarray of the same shape
        ``c_ik = (-1)^k beta_ik``, the coefficient of ``t_i^k``.
    """
    signs = slot_signs(beta.shape[1])
    return beta * (signs[None, :, None] if beta.ndim == 3 else signs[None, :])


def homogeneous_split(coefficients, exponents):
    """Split a polynomial's coefficient rows by degree.

    Parameters
    ----------
    coefficients : ndarray of shape (n_monomials, ...)
        Over ``exponents``, in graded order.
    exponents : ndarray of shape (n_monomials, d)
        The monomials' exponents.

    Returns
    -------
    constant : ndarray
        The degree-0 row (zero when absent).
    parts : list of ndarray
        The rows of degree ``1, ..., max degree``.
    """
    degrees = exponents.sum(axis=1)
    constant = coefficients[degrees == 0]
    constant = constant[0] if len(constant) else np.zeros(coefficients.shape[1:])
    return constant, [coefficients[degrees == s] for s in range(1, degrees.max() + 1)]


def exact_readout(coefficients, exponents, unit=1.0):
    """Return Theorem 3.5's network parameters of a polynomial.

    The lattice directions, the readout of Lemma 3.3's system (1), and ``b =
    Q(0)``.

    Parameters
    ----------
    coefficients : ndarray of shape (n_monomials,)
        Over ``exponents`` (every monomial of degree ``<= q``, graded).
    exponents : ndarray of shape (n_monomials, d)
        The monomials' exponents.
    unit : float, default=1.0
        The network reads ``x / unit``: the degree-``s`` coefficients are
        multiplied by ``unit^s``.

    Returns
    -------
    directions : ndarray of shape (C(d - 1 + q, q), d)
        The lattice directions.
    readout : ndarray of shape (n, q, 1)
        The slot coefficients.
    intercept : ndarray of shape (1,)
        ``Q(0)``.
    mask : ndarray of shape (n, q) of bool
        The power basis the readout uses.
    """
    degree = int(exponents.sum(axis=1).max())
    scaled = coefficients * unit ** exponents.sum(axis=1)
    constant, parts = homogeneous_split(scaled, exponents)
    directions = lattice_directions(exponents.shape[1], degree)
    return (
        directions,
        readout_from_parts(directions, parts)[..., None],
        np.atleast_1d(constant),
        power_basis(directions, degree).mask.copy(),
    )
