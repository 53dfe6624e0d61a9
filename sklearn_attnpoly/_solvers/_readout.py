"""The readout ``beta, b`` in closed form: weighted ridge on the power slots.

With ``F`` and the blocks fixed, ``C(x) = beta . slots(x) + b`` is linear in
``(beta, b)``, with the slots restricted to the readout mask. The centred
normal equations ``G = sum w (phi - m)(phi - m)^T`` and ``r = sum w (phi -
m)(y - m_y)^T`` are formed in float64 in one of two ways, neither of which holds
the ``N x p`` feature matrix:

* ``"gram"``: from the slots the frozen network computes, chunk by chunk. The
  features and targets are shifted by the weighted means ``c`` of the first
  chunk, ``S = sum w (phi - c)(phi - c)^T`` is accumulated by symmetric rank-k
  updates (``dsyrk``, ``N p^2 / 2`` multiply-adds in all), and ``G = S - W (m -
  c)(m - c)^T``; since ``c`` is already close to ``m`` the correction cancels no
  digits that matter. This path holds for any input, inside the blocks' radius
  or not.
* ``"moments"``: inside the radius the slots are the polynomials ``(-1)^k
  t_i^k``, and ``G`` follows from the ``C(d + 2q, 2q)`` weighted moments of the
  data (:mod:`~sklearn_attnpoly._solvers._moments`): ``N C(d + 2q, 2q)`` multiply-adds,
  25 times fewer than the Gram's at ``d = 10, q = 5``.

``G`` is then put in correlation form (unit diagonal), ``alpha`` added to the
diagonal, and the system solved (:func:`solve_correlation_system`).
"""

import numpy as np
import scipy.linalg
import torch

from .._chunks import row_chunks, rows_per_chunk
from ._moments import moment_cost, moment_normal_equations, n_moments


@torch.no_grad()
def _features(module, X, rows):
    """The masked slots of ``X[rows]``, in the row-major order of ``mask``,
    as a float64 array; taken from the slots stored ``(rows, q, n)``, the layout
    of :func:`~sklearn_attnpoly.attention._fused_chain.power_slots`, with one gather."""
    x = torch.as_tensor(X[rows], dtype=module.F.dtype, device=module.F.device)
    n, q = module.mask.shape
    i, k = module.mask.nonzero(as_tuple=True)
    slots = module.slots(x).transpose(1, 2).reshape(len(x), q * n)
    phi = slots.index_select(1, k * n + i).to(torch.float64)
    return phi.cpu().numpy()


#: Eigenvalues of the correlation-form normal equations below this fraction of
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
    with unit diagonal.

    Cholesky when ``A + alpha I`` is well conditioned; otherwise (a failed
    factorisation, or a pivot ratio below ``CHOLESKY_MIN_PIVOT``) an
    eigendecomposition that drops eigenvalues below ``RCOND`` times the largest,
    which gives the minimum-norm solution and stays stable when the data leave
    some directions undetermined (fewer rows than features, say).

    Returns
    -------
    coef : ndarray
    rank : int
        Number of directions solved for.
    """
    p = len(A)
    A_reg = A.copy()
    A_reg.flat[:: p + 1] += alpha
    try:
        factor = scipy.linalg.cho_factor(A_reg, lower=True, overwrite_a=True)
        pivots = np.diag(factor[0]) ** 2
        if pivots.min() > CHOLESKY_MIN_PIVOT * pivots.max():
            return scipy.linalg.cho_solve(factor, rhs), p
    except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
        pass
    eigenvalues, eigenvectors = scipy.linalg.eigh(A)
    keep = eigenvalues > RCOND * eigenvalues.max()
    V = eigenvectors[:, keep]
    coef = V @ ((V.T @ rhs) / (eigenvalues[keep] + alpha)[:, None])
    return coef, int(keep.sum())


def gram_normal_equations(module, X, Y, sample_weight):
    """The centred normal equations on the slots the network computes, row by row.

    A chunk of rows holds the network's slots (``n q`` per row, in its dtype)
    and the float64 features taken from them (``p`` per row).

    Returns ``G``, ``r``, ``m`` and ``m_y`` as
    :func:`~sklearn_attnpoly._solvers._moments.moment_normal_equations` does.
    """
    w = np.asarray(sample_weight, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    p = int(module.mask.sum())
    S = np.zeros((p, p), order="F")  # only the lower triangle is accumulated
    total, phi_sum, r = 0.0, np.zeros(p), np.zeros((p, Y.shape[1]))
    y_sum = np.zeros(Y.shape[1])
    n, q = module.mask.shape
    itemsize = module.F.element_size()
    for rows in row_chunks(len(X), rows_per_chunk(n * q * itemsize + 8 * p)):
        phi, w_c = _features(module, X, rows), w[rows]
        if rows.start == 0:  # the shift c: the first chunk's weighted means
            shift = w_c @ phi / w_c.sum()
            y_shift = w_c @ Y[rows] / w_c.sum()
        phi -= shift
        y_c = Y[rows] - y_shift
        total += w_c.sum()
        phi_sum += w_c @ phi
        y_sum += w_c @ y_c
        r += phi.T @ (w_c[:, None] * y_c)
        phi *= np.sqrt(w_c)[:, None]
        # S += phi^T phi: phi (rows, p) in C order is phi^T in Fortran order
        S = scipy.linalg.blas.dsyrk(1.0, phi.T, beta=1.0, c=S, lower=1, overwrite_c=1)
    mean, y_mean = phi_sum / total, y_sum / total  # of the shifted data
    G = np.tril(S)
    G += np.tril(S, -1).T
    del S
    G -= total * np.outer(mean, mean)
    r -= total * np.outer(mean, y_mean)
    return G, r, mean + shift, y_mean + y_shift


def choose_method(module, X):
    """``"moments"`` when the slots are the powers ``(-1)^k t^k`` on every row
    (``||x|| <= radius`` and ``||xi_i|| <= 1``) and the moments cost fewer
    operations than the row-by-row Gram; ``"gram"`` otherwise."""
    n_samples, n_features = X.shape
    mask = module.mask.cpu().numpy()
    p = int(mask.sum())
    if n_moments(n_features, mask.shape[1]) > MAX_MOMENTS:
        return "gram"
    F = module.F.detach().cpu().double().numpy()
    inside = (
        np.linalg.norm(F, axis=1).max() <= 1 + 1e-12
        and np.linalg.norm(X, axis=1).max() <= module.radius
    )
    if inside and moment_cost(n_samples, mask, n_features) < n_samples * p * p:
        return "moments"
    return "gram"


#: Above this many moments the table itself would be large; the Gram is used.
MAX_MOMENTS = 2 * 10**7


@torch.no_grad()
def fit_readout(module, X, Y, sample_weight, alpha, method="auto"):
    """Set ``module.beta`` (on its mask) and ``module.b`` by weighted ridge.

    Parameters
    ----------
    module : AttentionPolynomialNetwork
    X : ndarray of shape (n_samples, n_features)
        Scaled inputs.
    Y : ndarray of shape (n_samples, n_outputs)
        Scaled targets.
    sample_weight : ndarray of shape (n_samples,)
        Positive weights.
    alpha : float
        Added to the diagonal of the correlation-form normal equations.
    method : {"auto", "gram", "moments"}, default="auto"
        How the normal equations are formed: ``"gram"`` from the slots the
        network computes, chunk by chunk; ``"moments"`` from the moments of the
        data (:mod:`~sklearn_attnpoly._solvers._moments`), exact while the rows lie
        inside the blocks' radius; ``"auto"`` picks by :func:`choose_method`.

    Returns
    -------
    info : dict
        ``n_features`` (``p``), ``rank`` of the solve and the ``method`` used.
    """
    X = np.asarray(X, dtype=np.float64)
    if method == "auto":
        method = choose_method(module, X)
    if method == "moments":
        G, r, mean, y_mean = moment_normal_equations(
            module.F.detach().cpu().double().numpy(),
            module.mask.cpu().numpy(),
            X,
            np.asarray(Y, dtype=np.float64),
            sample_weight,
        )
    else:
        G, r, mean, y_mean = gram_normal_equations(module, X, Y, sample_weight)
    D = np.sqrt(np.diag(G))
    D[D <= np.finfo(float).tiny] = 1.0
    G /= D[:, None]
    G /= D[None, :]
    coef, rank = solve_correlation_system(G, r / D[:, None], alpha)
    coef /= D[:, None]
    beta, b = module.beta, module.b
    beta.zero_()
    beta[module.mask] = torch.as_tensor(coef, dtype=beta.dtype, device=beta.device)
    b.copy_(torch.as_tensor(y_mean - mean @ coef, dtype=b.dtype, device=b.device))
    return {"n_features": len(coef), "rank": int(rank), "method": method}
