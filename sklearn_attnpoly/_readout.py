"""The readout ``beta, b`` in closed form: weighted ridge on the power slots.

With ``F`` and the blocks fixed, ``C(x) = beta . slots(x) + b`` is linear in
``(beta, b)``. The features are the slots the frozen network computes (not a
parallel formula), restricted to its readout mask. The normal equations are
accumulated in one pass over chunks of rows, in float64, so the ``N x p``
feature matrix is never held at once:

1. the features and targets are shifted by the weighted means ``c`` of the
   first chunk, and ``S = sum w (phi - c)(phi - c)^T`` (a symmetric rank-k
   update, ``dsyrk``: ``N p^2 / 2`` multiply-adds in all), ``sum w (phi - c)``
   and ``sum w (phi - c)(y - c_y)^T`` are accumulated;
2. the centred Gram matrix is ``G = S - W (m - c)(m - c)^T`` with ``m`` the
   weighted mean; since ``c`` is already close to ``m`` the correction is
   small and cancels no digits that matter;
3. ``G`` is put in correlation form (unit diagonal), ``alpha`` added to the
   diagonal, and the system solved (:func:`solve_correlation_system`).
"""

import numpy as np
import scipy.linalg
import torch


def _chunks(n_rows, chunk_size):
    for start in range(0, n_rows, chunk_size):
        yield slice(start, min(start + chunk_size, n_rows))


@torch.no_grad()
def _features(module, X, rows):
    """The masked slots of ``X[rows]``, in the row-major order of ``mask``,
    as a float64 array; taken from the slots stored ``(rows, q, n)``, the layout
    of :func:`~sklearn_attnpoly._fast.power_slots`, with one gather."""
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


@torch.no_grad()
def fit_readout(module, X, Y, sample_weight, alpha, chunk_size=2048):
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
    chunk_size : int, default=2048
        Rows per pass of the network.

    Returns
    -------
    info : dict
        ``n_features`` (``p``) and ``rank`` of the solve.
    """
    w = np.asarray(sample_weight, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    p = int(module.mask.sum())
    S = np.zeros((p, p), order="F")  # only the lower triangle is accumulated
    total, phi_sum, r = 0.0, np.zeros(p), np.zeros((p, Y.shape[1]))
    y_sum = np.zeros(Y.shape[1])
    for rows in _chunks(len(X), chunk_size):
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
    mean, y_mean = mean + shift, y_mean + y_shift

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
    return {"n_features": p, "rank": int(rank)}
