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
   diagonal, and the system solved by Cholesky.
"""

import warnings

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
    A = G / np.outer(D, D)
    A[np.diag_indices_from(A)] += alpha
    try:
        coef = scipy.linalg.solve(A, r / D[:, None], assume_a="pos")
        rank = p
    except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
        coef, _, rank, _ = scipy.linalg.lstsq(A, r / D[:, None])
        warnings.warn(
            f"The readout's normal equations are singular (rank {rank} of {p}); "
            "a minimum-norm solution is used. Increase alpha, or lower degree "
            "or n_directions.",
            UserWarning,
            stacklevel=3,
        )
    coef /= D[:, None]
    coef_t = torch.as_tensor(coef, dtype=module.beta.dtype, device=device)
    module.beta.zero_()
    module.beta[module.mask] = coef_t
    module.b.copy_(y_mean.to(module.b.dtype) - mean.to(module.b.dtype) @ coef_t)
    return {"n_features": p, "rank": int(rank)}
