"""Polynomials as ``{exponent tuple: coefficient}`` dictionaries.

The public format of :meth:`AttentionPolynomialRegressor.from_polynomial` and
:meth:`AttentionPolynomialRegressor.to_polynomial`: ``{(2, 0): 1.0, (0, 2): 1.0}``
is ``x1**2 + x2**2``. Internally a polynomial of degree at most ``q`` in ``d``
variables is a dense coefficient vector over :func:`monomial_exponents`, graded
by total degree; this module converts between the two and evaluates, rescales
and shifts polynomials.
"""

import itertools
import math
from collections.abc import Mapping
from numbers import Integral, Real

import numpy as np


def homogeneous_exponents(n_variables, degree):
    """Exponents ``alpha`` in N^d with ``|alpha| = degree``, lexicographically
    descending, as an ``(n_degree, d)`` integer array.

    Their count is ``C(d - 1 + degree, degree)``, the dimension of the space of
    homogeneous polynomials of that degree (the ``n_q`` of Lemma 3.3). Each is
    a multiset of ``degree`` variables; the multisets, as sorted tuples in
    increasing lexicographic order, give the exponents in decreasing order.
    """
    count = math.comb(n_variables - 1 + degree, degree)
    variables = np.fromiter(
        itertools.chain.from_iterable(
            itertools.combinations_with_replacement(range(n_variables), degree)
        ),
        dtype=np.int64,
        count=count * degree,
    ).reshape(count, degree)
    exponents = np.zeros((count, n_variables), dtype=np.int64)
    rows = np.arange(count)
    for k in range(degree):  # no row names a variable twice in one column
        exponents[rows, variables[:, k]] += 1
    return exponents


def monomial_exponents(n_variables, degree):
    """All exponents with ``|alpha| <= degree``, graded: degree 0, then 1, ..."""
    return np.concatenate(
        [homogeneous_exponents(n_variables, k) for k in range(degree + 1)]
    )


#: Exponent codes below this are looked up in a direct table, others by search.
DENSE_CODES = 2**24


def n_monomials(n_variables, degree):
    """``C(d + q, q) - 1``: the monomials of degrees ``1..q`` in ``d``
    variables, the constant left out (the readout's features with the
    lattice directions).

    Examples
    --------
    >>> n_monomials(10, 5)
    3002
    """
    return math.comb(n_variables + degree, degree) - 1


class MonomialTable:
    """All monomials of degree at most ``max_degree`` in ``n_variables`` variables.

    Degree by degree, and within a degree grouped by their first variable:
    those of degree ``D`` whose first variable is ``j`` are ``z_j`` times the
    monomials of degree ``D - 1`` whose first variable is ``j`` or later, a
    contiguous run of the previous degree. A table of values therefore costs
    one multiplication per entry, in slices.

    Exponents are keyed by the integer code ``sum_j a_j r^j`` with radix ``r =
    max_degree + 1``: the code of a sum of two exponents whose sum stays within
    ``max_degree`` is the sum of their codes (no digit carries).
    """

    def __init__(self, n_variables, max_degree):
        eye = np.eye(n_variables, dtype=np.int64)
        blocks = [np.zeros((1, n_variables), dtype=np.int64)]
        first = [np.array([n_variables])]  # the constant: no first variable
        #: steps[D] lists (j, rows of degree D, rows of degree D - 1) per variable
        self.steps = [[]]
        start = 0
        for _ in range(max_degree):
            previous, prev_first = blocks[-1], first[-1]
            new, new_first, steps, offset = [], [], [], start + len(previous)
            for j in range(n_variables):
                run = np.flatnonzero(prev_first >= j)  # contiguous: sorted by first
                src = slice(start + run[0], start + run[-1] + 1)
                dst = slice(offset, offset + len(run))
                new.append(previous[run] + eye[j])
                new_first.append(np.full(len(run), j))
                steps.append((j, dst, src))
                offset += len(run)
            start += len(previous)
            blocks.append(np.concatenate(new) if new else previous[:0])
            first.append(np.concatenate(new_first) if new_first else prev_first[:0])
            self.steps.append(steps)
        self.exponents = np.concatenate(blocks)
        self.degrees = self.exponents.sum(axis=1)
        # start[D]: index of the first monomial of degree D
        self.start = np.searchsorted(self.degrees, np.arange(max_degree + 2))
        self.radix = max_degree + 1
        self.codes = self.code(self.exponents)
        self.order = np.argsort(self.codes)
        if self.radix**n_variables <= DENSE_CODES:  # a direct table of positions
            self.table = np.zeros(self.radix**n_variables, dtype=np.int64)
            self.table[self.codes] = np.arange(len(self.codes))

    def code(self, exponents):
        n_variables = exponents.shape[-1]
        if self.radix**n_variables < 2**63:
            weights = self.radix ** np.arange(n_variables, dtype=np.int64)
            return np.asarray(exponents, dtype=np.int64) @ weights
        # codes beyond int64: Python integers (slower, and only for many variables)
        weights = np.array([self.radix**j for j in range(n_variables)], dtype=object)
        return np.asarray(exponents, dtype=np.int64).astype(object) @ weights

    def lookup(self, codes):
        """Positions of the monomials with these codes (which must exist)."""
        if hasattr(self, "table"):
            return self.table[codes]
        return self.order[np.searchsorted(self.codes, codes, sorter=self.order)]

    def values(self, Z, out=None):
        """``table[j, n] = z_n^{a_j}`` for the rows of ``Z`` (``(rows, vars)``),
        written into ``out`` when given (reused from chunk to chunk, it spares
        the page faults of a fresh table)."""
        shape = (len(self.exponents), len(Z))
        table = np.empty(shape) if out is None else out[:, : len(Z)]
        table[0] = 1.0
        Zt = np.ascontiguousarray(Z.T)
        for steps in self.steps[1:]:
            for j, dst, src in steps:
                np.multiply(table[src], Zt[j], out=table[dst])
        return table


def multinomial_coefficients(exponents):
    """``|alpha|! / alpha!`` for each row of ``exponents``.

    They are the coefficients of the multinomial expansion
    ``(xi . x)**k = sum_alpha k!/alpha! xi^alpha x^alpha``.
    """
    # |alpha|! / alpha! = prod_j C(alpha_1 + ... + alpha_j, alpha_j): binomials
    # and their products are exact in float64 up to |alpha| = 18 (18! < 2^53)
    exponents = np.asarray(exponents, dtype=np.int64)
    partial = np.cumsum(exponents, axis=-1)
    top = int(partial.max(initial=0))
    binomials = np.array(
        [[math.comb(m, k) for k in range(top + 1)] for m in range(top + 1)], float
    )
    return binomials[partial, exponents].prod(axis=-1)


def monomials(X, exponents):
    """Evaluate ``x^alpha`` for every row of ``X`` and every exponent: ``(N, m)``."""
    X = np.asarray(X, dtype=float)
    return np.prod(X[:, None, :] ** exponents[None, :, :], axis=2)


def validate_coefficients(coefficients):
    """Check a ``{exponent tuple: coefficient}`` mapping.

    Returns
    -------
    n_variables : int
    degree : int
        The largest total degree with a non-zero coefficient (at least 1).
    coef : ndarray of shape (n_monomials,)
        The coefficients over ``monomial_exponents(n_variables, degree)``.
    """
    if not isinstance(coefficients, Mapping):
        raise TypeError(
            "coefficients must be a mapping from exponent tuples to numbers, "
            f"such as {{(2, 0): 1.0, (0, 2): 1.0}}; got {type(coefficients).__name__}."
        )
    if len(coefficients) == 0:
        raise ValueError("coefficients is empty: give at least one monomial.")
    widths = set()
    for exponent, value in coefficients.items():
        if not isinstance(exponent, tuple) or not all(
            isinstance(a, Integral) and not isinstance(a, bool) and a >= 0
            for a in exponent
        ):
            raise ValueError(
                "every key of coefficients must be a tuple of non-negative "
                f"integers (one exponent per input feature); got {exponent!r}."
            )
        if len(exponent) == 0:
            raise ValueError("exponent tuples must name at least one feature.")
        if not isinstance(value, Real) or not math.isfinite(value):
            raise ValueError(
                f"the coefficient of {exponent!r} must be a finite real number; "
                f"got {value!r}."
            )
        widths.add(len(exponent))
    if len(widths) != 1:
        raise ValueError(
            "all exponent tuples must have the same length (the number of "
            f"features); got lengths {sorted(widths)}."
        )
    (n_variables,) = widths
    nonzero = [sum(e) for e, v in coefficients.items() if v != 0]
    degree = max([1, *nonzero])
    exponents = monomial_exponents(n_variables, degree)
    index = {tuple(int(a) for a in row): i for i, row in enumerate(exponents)}
    coef = np.zeros(len(exponents))
    for exponent, value in coefficients.items():
        if sum(exponent) <= degree:
            coef[index[tuple(int(a) for a in exponent)]] += float(value)
    return n_variables, degree, coef


def to_dict(coef, exponents):
    """The inverse of :func:`validate_coefficients`: ``{tuple: float}``."""
    return {
        tuple(int(a) for a in row): float(c)
        for row, c in zip(exponents, coef, strict=True)
    }


def evaluate(coefficients, X):
    """Evaluate a ``{exponent tuple: coefficient}`` polynomial on the rows of X."""
    n_variables, degree, coef = validate_coefficients(coefficients)
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] != n_variables:
        raise ValueError(
            f"X must have shape (n_samples, {n_variables}); got {X.shape}."
        )
    y = np.zeros(len(X))
    # term by term over the non-zero coefficients: O(N) memory, however many
    # monomials the degree allows
    for exponent, c in zip(monomial_exponents(n_variables, degree), coef, strict=True):
        if c != 0:
            used = np.flatnonzero(exponent)
            y += c * np.prod(X[:, used] ** exponent[used], axis=1)
    return y


def substitute_affine(coef, exponents, shift, scale):
    """Coefficients of ``p((x - shift) / scale)`` as a polynomial in ``x``.

    ``coef`` (shape ``(m,)`` or ``(m, n_outputs)``) are the coefficients of
    ``p`` over ``exponents`` (a full graded set from :func:`monomial_exponents`);
    ``shift`` and ``scale`` are per-variable. Each monomial expands binomially:
    ``((x_j - s_j) / c_j)**a = c_j**-a * sum_b C(a, b) x_j**b (-s_j)**(a - b)``.
    """
    exponents = np.asarray(exponents)
    index = {tuple(row): i for i, row in enumerate(exponents.tolist())}
    # per variable j and power a: the row vector of b -> C(a,b) (-s_j)^(a-b) / c_j^a
    max_power = int(exponents.max()) if exponents.size else 0
    factors = []
    for s, c in zip(shift, scale, strict=True):
        table = np.zeros((max_power + 1, max_power + 1))
        for a in range(max_power + 1):
            for b in range(a + 1):
                table[a, b] = math.comb(a, b) * (-s) ** (a - b) / c**a
        factors.append(table)
    coef = np.asarray(coef, dtype=float)
    out = np.zeros_like(coef)
    for alpha, c_alpha in zip(exponents.tolist(), coef, strict=True):
        # expand prod_j ((x_j - s_j)/c_j)^alpha_j term by term
        terms = {(): 1.0}
        for j, a in enumerate(alpha):
            terms = {
                key + (b,): w * factors[j][a, b]
                for key, w in terms.items()
                for b in range(a + 1)
            }
        for beta, w in terms.items():
            out[index[beta]] += w * c_alpha
    return out
