"""The readout's normal equations from the moments of the data.

Inside the radius the blocks were built for, slot ``k`` of direction ``i`` is
the polynomial (Lemma 3.1, then the multinomial theorem)

    (-1)^k (xi_i . x)^k = (-1)^k sum_{|a| = k} k!/a! xi_i^a x^a,

so the readout's features are ``phi(x) = m(x) P``: the monomials ``m(x)`` of
degrees ``1..q`` times a block-diagonal matrix ``P`` whose degree-``k`` block
is ``(-1)^k V_k^T`` (:func:`~sklearn_attnpoly.attention._directions.ridge_power_matrix`,
restricted to the slots of the readout mask). Their weighted Gram matrix is

    sum_n w_n phi(x_n) phi(x_n)^T = P^T H P,     H[a, b] = mu_{a + b},      (1)

with ``mu_g = sum_n w_n x_n^g`` the weighted moments of degree at most ``2q``:
``C(d + 2q, 2q)`` numbers (184 756 for ``d = 10, q = 5``) in place of the
``N p^2 / 2`` products of a Gram matrix accumulated row by row (4.5 million
per row there, ``p = 3002``).

The moments are matrix products. Split the variables in two halves, ``x = (u,
v)``, so that ``x^g = u^a v^b``. For each degree ``i`` of ``a``, the moments
``sum_n w_n u_n^a v_n^b`` for every ``|a| = i`` and every ``|b| <= 2q - i`` are
one product ``U_i diag(w) V_{<= 2q - i}^T`` of monomial tables; over ``i = 0,
..., 2q`` every moment is computed exactly once, ``N C(d + 2q, 2q)``
multiply-adds in all, over chunks of rows so that no table of ``N`` rows is
held.
"""

import math

import numpy as np

from .._chunks import row_chunks, rows_per_chunk
from .._polynomial import MonomialTable, homogeneous_exponents
from ..attention._directions import ridge_power_matrix
from ..attention._fused_chain import slot_signs


class MomentTable:
    """Weighted moments ``mu_g = sum_n w_n x_n^g`` for every ``|g| <= max_degree``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    weights : ndarray of shape (n_samples, n_columns)
        One set of moments per column (row weights, or weights times a target).
    max_degree : int
    """

    def __init__(self, X, weights, max_degree):
        X = np.asarray(X, dtype=np.float64)
        weights = np.asarray(weights, dtype=np.float64)
        d = X.shape[1]
        self.split = (d + 1) // 2
        self.max_degree = max_degree
        self.u = MonomialTable(self.split, max_degree)
        self.v = MonomialTable(d - self.split, max_degree)
        u, v = self.u, self.v
        # block i (degree of the u part): shape (#u of degree i, #v of degree <= D - i)
        widths = [int(v.start[max_degree - i + 1]) for i in range(max_degree + 1)]
        heights = np.diff(u.start).tolist()
        sizes = [h * w for h, w in zip(heights, widths, strict=True)]
        self.widths = widths
        self.offsets = np.concatenate([[0], np.cumsum(sizes)])
        self.moments = np.zeros((weights.shape[1], int(self.offsets[-1])))
        # a chunk holds three tables, of the u monomials, the v monomials and
        # the v monomials times the weights, one float64 column per row
        chunk = rows_per_chunk(8 * (len(u.codes) + 2 * len(v.codes)))
        U, V, Vw = (np.empty((len(t.codes), min(chunk, len(X)))) for t in (u, v, v))
        for rows in row_chunks(len(X), chunk):
            U_c = u.values(X[rows, : self.split], out=U)
            V_c = v.values(X[rows, self.split :], out=V)
            for c in range(weights.shape[1]):
                Vw_c = np.multiply(V_c, weights[rows, c], out=Vw[:, : V_c.shape[1]])
                for i in range(max_degree + 1):
                    block = U_c[u.start[i] : u.start[i + 1]] @ Vw_c[: widths[i]].T
                    where = slice(self.offsets[i], self.offsets[i + 1])
                    self.moments[c, where] += block.ravel()

    @property
    def n_moments(self):
        return self.moments.shape[1]

    def codes(self, exponents):
        """The pair of codes of each exponent (its ``u`` and ``v`` parts)."""
        exponents = np.asarray(exponents, dtype=np.int64)
        return (
            self.u.code(exponents[..., : self.split]),
            self.v.code(exponents[..., self.split :]),
        )

    def index(self, u_codes, v_codes):
        """Positions in :attr:`moments` of the exponents with these codes."""
        a = self.u.lookup(u_codes)
        i = self.u.degrees[a]
        b = self.v.lookup(v_codes)
        return self.offsets[i] + (a - self.u.start[i]) * np.take(self.widths, i) + b

    def __call__(self, exponents, column=0):
        """``mu_g`` for each row ``g`` of ``exponents``."""
        return self.moments[column, self.index(*self.codes(exponents))]


def n_moments(n_features, degree):
    """The moments the degree-``q`` normal equations need: ``C(d + 2q, 2q)``."""
    return math.comb(n_features + 2 * degree, 2 * degree)


def moment_normal_equations(directions, mask, X, Y, sample_weight):
    """The centred normal equations of the readout on the masked slots, by (1).

    Parameters
    ----------
    directions : ndarray of shape (n, d)
        Rows of ``F``, each of norm at most 1.
    mask : ndarray of shape (n, q), dtype bool
        The readout's slots; the features are ordered as ``mask.nonzero()``.
    X : ndarray of shape (n_samples, d)
        Inputs, all inside the radius the blocks were built for.
    Y : ndarray of shape (n_samples, n_outputs)
    sample_weight : ndarray of shape (n_samples,)

    Returns
    -------
    G : ndarray of shape (p, p)
        ``sum_n w_n (phi_n - m)(phi_n - m)^T``.
    r : ndarray of shape (p, n_outputs)
        ``sum_n w_n (phi_n - m)(y_n - m_y)^T``.
    m, m_y : ndarray
        The weighted means of the features and of the targets.
    """
    directions = np.asarray(directions, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    w = np.asarray(sample_weight, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    d = directions.shape[1]
    q = mask.shape[1]
    total = w.sum()

    gram = MomentTable(X, w[:, None], 2 * q)
    cross = MomentTable(X, w[:, None] * Y, q)
    m_y = cross.moments[:, 0] / total  # the moment of g = 0

    # P's blocks: (-1)^k V_k^T on the selected directions, (#monomials, #slots)
    degrees = range(1, q + 1)
    exponents = [homogeneous_exponents(d, k) for k in degrees]
    signs = slot_signs(q)
    P = [
        signs[k - 1] * ridge_power_matrix(directions[mask[:, k - 1]], k).T
        for k in degrees
    ]
    codes = [gram.codes(e) for e in exponents]

    # S = P^T H P block by block, written straight into the mask's row-major
    # order; mean and r from the moments of degree k
    p = int(mask.sum())
    position = (np.cumsum(mask.ravel()) - 1).reshape(mask.shape)
    slots = [position[mask[:, k - 1], k - 1] for k in degrees]
    S = np.empty((p, p))
    mean = np.empty(p)
    r = np.empty((p, Y.shape[1]))
    for k, (P_k, (u_k, v_k)) in enumerate(zip(P, codes, strict=True)):
        mean[slots[k]] = P_k.T @ gram(exponents[k]) / total
        r[slots[k]] = (
            P_k.T @ cross.moments[:, cross.index(*cross.codes(exponents[k]))].T
        )
        for l in range(k, q):  # S is symmetric
            (u_l, v_l), P_l = codes[l], P[l]
            HP = np.empty((len(u_k), P_l.shape[1]))
            for rows in _row_blocks(len(u_k), len(u_l)):  # bounded index arrays
                where = gram.index(u_k[rows, None] + u_l, v_k[rows, None] + v_l)
                HP[rows] = gram.moments[0, where] @ P_l
            block = P_k.T @ HP
            S[np.ix_(slots[k], slots[l])] = block
            S[np.ix_(slots[l], slots[k])] = block.T
    # centre, in place: G = S - W m m^T, r - W m m_y^T
    for rows in _row_blocks(p, p):
        S[rows] -= total * np.outer(mean[rows], mean)
    r -= total * np.outer(mean, m_y)
    return S, r, mean, m_y


def _row_blocks(n_rows, n_columns):
    """Row blocks of an ``(n_rows, n_columns)`` gather: its int64 positions
    and the float64 values gathered, 16 bytes an entry."""
    return row_chunks(n_rows, rows_per_chunk(16 * n_columns))


def moment_cost(n_samples, mask, n_features):
    """Floating-point operations of :func:`moment_normal_equations`, roughly:
    the moments (one multiply-add each per row) and the products of (1)."""
    d, q = n_features, mask.shape[1]
    m = [math.comb(d - 1 + k, k) for k in range(1, q + 1)]
    s = np.asarray(mask).sum(axis=0)
    products = sum(
        2 * m[k] * m[l] * s[l] + 2 * s[k] * m[k] * s[l]
        for k in range(q)
        for l in range(k, q)
    )
    return 2 * n_samples * n_moments(d, q) + int(products)
