"""The readout ``beta, b`` in closed form: weighted ridge on the power slots.

With ``F`` and the blocks fixed, ``C(x) = beta . slots(x) + b`` is linear in
``(beta, b)``. The features are the slots the frozen network computes (not a
parallel formula), restricted to its readout mask. The normal equations are
accumulated in chunks, in float64, so the ``N x p`` feature matrix is never
held at once:

1. a first pass takes the weighted means of the features and targets;
2. a second pass accumulates the centred Gram matrix ``G = sum w (phi - m)(phi - m)^T``
   and ``r = sum w (phi - m)(y - y_mean)^T`` by symmetric rank-k updates;
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
    x = torch.as_tensor(X[rows], dtype=module.F.dtype, device=module.F.device)
    slots = module.slots(x)[:, module.mask]
    return slots.to(torch.float64)


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
    A_reg = A + alpha * np.eye(p)
    try:
        factor = scipy.linalg.cho_factor(A_reg, lower=True)
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
def fit_readout(module, X, Y, sample_weight, alpha, chunk_size=4096):
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
    chunk_size : int, default=4096
        Rows per pass of the network.

    Returns
    -------
    info : dict
        ``n_features`` (``p``) and ``rank`` of the solve.
    """
    device = module.F.device
    w = torch.as_tensor(sample_weight, dtype=torch.float64, device=device)
    Yt = torch.as_tensor(Y, dtype=torch.float64, device=device)
    total = w.sum()
    p = int(module.mask.sum())

    mean = torch.zeros(p, dtype=torch.float64, device=device)
    for rows in _chunks(len(X), chunk_size):
        mean += w[rows] @ _features(module, X, rows)
    mean /= total
    y_mean = (w @ Yt) / total

    G = torch.zeros(p, p, dtype=torch.float64, device=device)
    r = torch.zeros(p, Yt.shape[1], dtype=torch.float64, device=device)
    for rows in _chunks(len(X), chunk_size):
        centred = _features(module, X, rows) - mean
        weighted = centred * w[rows, None]
        G.addmm_(weighted.T, centred)
        r.addmm_(weighted.T, Yt[rows] - y_mean)

    G, r = G.cpu().numpy(), r.cpu().numpy()
    D = np.sqrt(np.diag(G))
    D[D <= np.finfo(float).tiny] = 1.0
    coef, rank = solve_correlation_system(G / np.outer(D, D), r / D[:, None], alpha)
    coef /= D[:, None]
    coef_t = torch.as_tensor(coef, dtype=module.beta.dtype, device=device)
    module.beta.zero_()
    module.beta[module.mask] = coef_t
    module.b.copy_(y_mean.to(module.b.dtype) - mean.to(module.b.dtype) @ coef_t)
    return {"n_features": p, "rank": int(rank)}
