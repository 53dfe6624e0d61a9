"""The data's weighted moments: what polynomial least squares needs of the rows.

Regressing ``y`` on the monomials ``m(x) = (x^a)`` of degrees ``1..q`` with row
weights ``w`` needs their weighted Gram matrix and their products with ``y``,

    H[a, b] = mu_{a + b},   mu_g = sum_n w_n x_n^g       (|g| <= 2q),      (1)
    r[a] = nu_a,            nu_a = sum_n w_n y_n x_n^a   (|a| <= q),

``C(d + 2q, 2q)`` moments (184 756 for ``d = 10, q = 5``) and ``C(d + q, q)``
cross moments per target, in place of the ``N p^2 / 2`` products of a Gram
matrix accumulated row by row (4.5 million per row there, ``p = 3002``).

The moments are matrix products. Split the variables in two halves, ``x = (u,
v)``, so that ``x^g = u^a v^b``. For each degree ``i`` of ``a``, the moments
``sum_n w_n u_n^a v_n^b`` for every ``|a| = i`` and every ``|b| <= 2q - i`` are
one product ``U_i diag(w) V_{<= 2q - i}^T`` of monomial tables; over ``i = 0,
..., 2q`` every moment is computed exactly once, ``N C(d + 2q, 2q)``
multiply-adds in all, over chunks of rows so that no table of ``N`` rows is
held, each chunk's products added into the sums by the BLAS itself
(:func:`accumulate`). The sums are over rows, so the rows are split between
threads, each summing its own range into its own arrays.

Moments about one centre are moments about any other by the binomial theorem,
``sum_n w_n (x_n - c - delta)^g = sum_{h <= g} C(g, h) (-delta)^(g - h)
mu_h``, one variable at a time (:func:`translate`): rows can be summed about
their own mean, and sums about different means combined, without the loss of
digits of moments taken far from the data.
"""

import math
from functools import cached_property, lru_cache

import numpy as np
import torch
from threadpoolctl import threadpool_info

from .. import _chunks as chunk_policy
from .._chunks import row_chunks, rows_per_chunk
from .._polynomial import MonomialTable, monomial_exponents
from .._threads import one_pool, parallel_map


def n_moments(n_features, degree):
    """The moments the degree-``q`` normal equations need: ``C(d + 2q, 2q)``."""
    return math.comb(n_features + 2 * degree, 2 * degree)


#: The most pairs whose positions :meth:`MomentLayout.sums` keeps (int64:
#: 128 MiB), enough for ``d = 10, q = 5``.
MAX_KEPT_SUMS = 2**24


@lru_cache(maxsize=16)
def moment_layout(n_features, max_degree):
    """The :class:`MomentLayout` of ``(n_features, max_degree)``, built once."""
    return MomentLayout(n_features, max_degree)


class MomentLayout:
    """Where each moment ``mu_g``, ``|g| <= max_degree``, is stored.

    Block ``i`` holds the moments whose ``u`` part has degree ``i``: a
    ``(#u of degree i) x (#v of degree <= max_degree - i)`` matrix, row-major;
    the blocks follow each other in a flat array of :attr:`n_moments` entries.
    Layouts of the same ``n_features`` split the variables alike, and their
    tables of monomials are graded, so a smaller layout's tables are the first
    rows of a larger one's.
    """

    def __init__(self, n_features, max_degree):
        self.n_features = n_features
        self.max_degree = max_degree
        self.split = (n_features + 1) // 2
        self.u = MonomialTable(self.split, max_degree)
        self.v = MonomialTable(n_features - self.split, max_degree)
        self.heights = np.diff(self.u.start).tolist()
        self.widths = [
            int(self.v.start[max_degree - i + 1]) for i in range(max_degree + 1)
        ]
        sizes = [h * w for h, w in zip(self.heights, self.widths, strict=True)]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self._lowering = {}
        self._sums = None

    @property
    def n_moments(self):
        return int(self.offsets[-1])

    def blocks(self, moments):
        """Views of the flat ``moments`` (last axis) as the blocks ``i = 0, 1, ...``."""
        return [
            moments[..., self.offsets[i] : self.offsets[i + 1]].reshape(
                moments.shape[:-1] + (self.heights[i], self.widths[i])
            )
            for i in range(self.max_degree + 1)
        ]

    def codes(self, exponents):
        """The pair of codes of each exponent (its ``u`` and ``v`` parts)."""
        exponents = np.asarray(exponents, dtype=np.int64)
        return (
            self.u.code(exponents[..., : self.split]),
            self.v.code(exponents[..., self.split :]),
        )

    def index(self, u_codes, v_codes):
        """Positions in the flat array of the exponents with these codes."""
        a = self.u.lookup(u_codes)
        i = self.u.degrees[a]
        b = self.v.lookup(v_codes)
        return self.offsets[i] + (a - self.u.start[i]) * np.take(self.widths, i) + b

    def lowering(self, j):
        """For ``k = 1, 2, ...``: the moments ``g`` with ``g_j >= k``, the
        positions of ``g - k e_j`` and ``C(g_j, k)`` (what :func:`translate`
        gathers), computed once per variable."""
        if j not in self._lowering:
            powers = self.exponents[:, j].astype(np.int64)
            u_codes, v_codes = self.codes(self.exponents)
            in_u = j < self.split
            step = self.u.radix**j if in_u else self.v.radix ** (j - self.split)
            steps = []
            for k in range(1, int(powers.max(initial=0)) + 1):
                rows = np.flatnonzero(powers >= k)
                u, v = u_codes[rows], v_codes[rows]
                if in_u:
                    u = u - k * step
                else:
                    v = v - k * step
                binomial = _binomials(self.max_degree)[powers[rows], k]
                steps.append((rows, self.index(u, v), binomial))
            self._lowering[j] = steps
        return self._lowering[j]

    def sums(self, exponents, moments=None):
        """Positions of ``a + b`` for every pair of rows of ``exponents``
        (``(p, p)``), or with ``moments`` the moments there (``H`` of (1)).
        The positions are kept for the last exponents asked, up to
        :data:`MAX_KEPT_SUMS` pairs, as cross-validation asks for the same
        ones per fold; beyond, the moments are gathered a block of rows at a
        time and no ``p x p`` array of positions is formed.

        The position of ``a + b`` is a row offset set by the ``u`` parts and a
        column set by the ``v`` parts, each looked up once per pair of the few
        distinct parts, then gathered for the ``p^2`` pairs.
        """
        key = exponents.tobytes()
        if self._sums is not None and self._sums[0] == key:
            kept = self._sums[1]
            return kept if moments is None else moments[kept]
        u_codes, v_codes = self.codes(exponents)
        u_parts, u_of = np.unique(u_codes, return_inverse=True)
        v_parts, v_of = np.unique(v_codes, return_inverse=True)
        u_sums = self.u.lookup(u_parts[:, None] + u_parts)
        degree = self.u.degrees[u_sums]
        rows = self.offsets[degree] + (u_sums - self.u.start[degree]) * np.take(
            self.widths, degree
        )
        columns = self.v.lookup(v_parts[:, None] + v_parts)
        p = len(exponents)
        keep = p * p <= MAX_KEPT_SUMS
        out = np.empty((p, p), dtype=np.int64 if keep or moments is None else float)
        # row a of the positions is a row of each table, gathered: R[u_a] + C[v_a]
        R, C = rows[:, u_of], columns[:, v_of]
        for block in row_chunks(p, rows_per_chunk(8 * p)):
            where = R[u_of[block]]
            where += C[v_of[block]]
            out[block] = where if keep or moments is None else moments[where]
        if keep:
            self._sums = (key, out)
            return out if moments is None else moments[out]
        return out

    @cached_property
    def exponents(self):
        """The exponent of every stored moment, in storage order."""
        u, v = self.u.exponents, self.v.exponents
        parts = [
            np.column_stack(
                [
                    np.repeat(u[self.u.start[i] : self.u.start[i + 1]], w, axis=0),
                    np.tile(v[:w], (h, 1)),
                ]
            )
            for i, (h, w) in enumerate(zip(self.heights, self.widths, strict=True))
        ]
        return np.concatenate(parts).astype(np.int16)


def accumulate(layout, moments, X, weights, cross=None, targets=None):
    """Add the weighted moments of the rows of ``X`` to ``moments``, in place.

    The rows are split into contiguous ranges, one per worker thread
    (:func:`n_workers`), each summed into its own arrays by single-threaded
    BLAS calls, which run side by side as they release the interpreter's lock
    (torch's; scipy's BLAS wrappers hold it, which kept a second thread
    waiting); the partial sums are then added. Every library's pool is held
    to one thread meanwhile (:func:`~sklearn_attnpoly._threads.one_pool`):
    its own threads would split every small product of a chunk (a few hundred
    rows) and meet at its end, thousands of times per pass, which costs more
    than the product as soon as a core is busy elsewhere.

    Parameters
    ----------
    layout : MomentLayout
        Of degree ``D``.
    moments : ndarray of shape (layout.n_moments,)
        ``mu_g``, to which ``sum_n w_n x_n^g`` is added.
    X : ndarray of shape (n_samples, n_features)
    weights : ndarray of shape (n_samples,) or None
        Row weights; ``None`` for weights all 1 (one multiplication fewer per
        entry of the ``v`` table).
    cross : tuple (MomentLayout, ndarray of shape (n_outputs, n)), optional
        A layout of degree ``D' <= D`` and its ``nu``, to which ``sum_n w_n
        y_no x_n^a`` is added for each column ``o`` of ``targets``.
    targets : ndarray of shape (n_samples, n_outputs), optional
    """
    chunk = _chunk_rows(layout, cross)
    sums_bytes = moments.nbytes + (0 if cross is None else cross[1].nbytes)
    workers = n_workers(len(X), chunk, sums_bytes)
    _accumulate_threads(layout, moments, X, weights, cross, targets, chunk, workers)


def _accumulate_threads(layout, moments, X, weights, cross, targets, chunk, workers):
    """:func:`accumulate` by ``workers`` threads, in chunks of ``chunk`` rows,
    every library's pool at one thread meanwhile."""
    with one_pool(workers):
        _accumulate_split(layout, moments, X, weights, cross, targets, chunk, workers)


def _accumulate_split(layout, moments, X, weights, cross, targets, chunk, workers):
    if workers == 1:
        _accumulate_rows(layout, moments, X, weights, cross, targets, chunk)
        return
    # the first range is summed into the caller's arrays, the others apart
    sums = [(moments, cross)]
    for _ in range(workers - 1):
        partial = None if cross is None else (cross[0], np.zeros_like(cross[1]))
        sums.append((np.zeros_like(moments), partial))
    bounds = np.linspace(0, len(X), workers + 1).astype(int)

    def work(k):
        rows = slice(bounds[k], bounds[k + 1])
        _accumulate_rows(
            layout,
            sums[k][0],
            X[rows],
            None if weights is None else weights[rows],
            sums[k][1],
            None if targets is None else targets[rows],
            chunk,
        )

    parallel_map(work, range(workers))
    for partial, partial_cross in sums[1:]:
        moments += partial
        if cross is not None:
            cross[1][...] += partial_cross[1]


#: The most bytes of partial sums the worker threads of :func:`accumulate` may
#: hold beyond the caller's: the moments of degree ``2q`` can be large, and a
#: thread that would need a copy of more than this is not started.
MAX_PARTIAL_BYTES = 2**28


def n_workers(n_rows, chunk_rows, sums_bytes):
    """Threads :func:`accumulate` uses: as many as the BLAS may use now (so
    that ``threadpoolctl.threadpool_limits`` sets them), at most one per chunk
    of rows, and no more than :data:`MAX_PARTIAL_BYTES` of partial sums allow."""
    blas = [
        info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"
    ]
    by_memory = 1 + MAX_PARTIAL_BYTES // max(1, sums_bytes)
    return max(1, min(max(blas, default=1), -(-n_rows // chunk_rows), by_memory))


def _chunk_rows(layout, cross):
    """Rows of a chunk: it holds the ``u`` and ``v`` tables, the weighted
    ``v`` table and its low rows times a target, one float64 column per row."""
    n_cross = 0 if cross is None else cross[0].widths[0]
    row_bytes = 8 * (len(layout.u.codes) + 2 * len(layout.v.codes) + n_cross)
    return rows_per_chunk(row_bytes, chunk_policy.MOMENT_CHUNK_BYTES)


def _accumulate_rows(layout, moments, X, weights, cross, targets, chunk):
    """:func:`accumulate` of all the rows of ``X`` in this thread."""
    u, v, split = layout.u, layout.v, layout.split
    blocks = layout.blocks(moments)
    n_cross = 0
    if cross is not None:
        cross_layout, cross = cross
        cross_blocks = cross_layout.blocks(cross)
        n_cross = cross_layout.widths[0]  # the v monomials of degree <= D'
    heights = (len(u.codes), len(v.codes), len(v.codes), n_cross)
    U, V, Vw, Vy = (np.empty((h, min(chunk, len(X)))) for h in heights)
    for rows in row_chunks(len(X), chunk):
        U_c = u.values(X[rows, :split], out=U)
        V_c = v.values(X[rows, split:], out=V)
        Vw_c = V_c
        if weights is not None:
            Vw_c = np.multiply(V_c, weights[rows], out=Vw[:, : V_c.shape[1]])
        for i, block in enumerate(blocks):
            U_i = U_c[u.start[i] : u.start[i + 1]]
            _add_product(block, U_i, Vw_c[: block.shape[1]])
        if cross is None:
            continue
        for o in range(cross.shape[0]):
            Vy_c = np.multiply(
                Vw_c[:n_cross], targets[rows, o], out=Vy[:, : V_c.shape[1]]
            )
            for i, block in enumerate(cross_blocks):
                U_i = U_c[u.start[i] : u.start[i + 1]]
                _add_product(block[o], U_i, Vy_c[: block.shape[-1]])


def _add_product(block, A, B):
    """``block += A @ B.T``, by the BLAS into ``block``, in place."""
    torch.from_numpy(block).addmm_(torch.from_numpy(A), torch.from_numpy(B).T)


@lru_cache(maxsize=8)
def _binomials(n):
    """``C(m, k)`` for ``m, k <= n``, as a float table."""
    return np.array(
        [[math.comb(m, k) for k in range(n + 1)] for m in range(n + 1)], float
    )


def translate(layout, moments, shift):
    """Moments about ``c + shift`` from moments about ``c`` (last axis).

    ``sum_n w_n (x_n - c - shift)^g = sum_{h <= g} C(g, h) (-shift)^(g - h)
    mu_h``, applied one variable at a time.
    """
    result = np.array(moments, dtype=np.float64)
    for j in np.flatnonzero(shift):
        source = result.copy()
        for k, (rows, lowered, binomial) in enumerate(layout.lowering(j), start=1):
            factor = binomial * (-shift[j]) ** k
            result[..., rows] += factor * source[..., lowered]
    return result


def gram(layout, moments, exponents):
    """``H[a, b] = mu_{a + b}`` for the exponents given (1), from the moments
    of a layout of at least twice their degree."""
    return layout.sums(exponents, moments)


def values(layout, moments, exponents):
    """``mu_g`` for each row ``g`` of ``exponents`` (last axis of ``moments``)."""
    return moments[..., layout.index(*layout.codes(exponents))]


def graded_exponents(n_features, degree):
    """The exponents of the monomials of degrees ``1..degree``, graded: the
    features of the normal equations, in the order of
    :func:`~sklearn_attnpoly._polynomial.monomial_exponents` without the
    constant. Those of a lower degree are a leading block."""
    return monomial_exponents(n_features, degree)[1:]
