"""The network's output for many rows: the module's forward pass, in chunks.

Prediction calls the module directly, chunk after chunk, each chunk of
:func:`~sklearn_attnpoly._chunks.rows_per_chunk` rows for the bytes a row
occupies in the forward pass (:meth:`AttentionPolynomialNetwork.row_bytes`),
and writes each chunk's output into one array. skorch's ``predict`` would
instead load batches of ``batch_size`` rows through a ``DataLoader``, convert
each, and concatenate the outputs at the end.
"""

import numpy as np
import torch

from ._chunks import row_chunks, rows_per_chunk


@torch.no_grad()
def network_output(module, X, scale_exponents):
    """``module(x, j)`` for the rows ``x`` of ``X`` and their ``j`` of
    ``scale_exponents``, as a float64 array.

    Parameters
    ----------
    module : AttentionPolynomialNetwork
    X : ndarray of shape (n_samples, n_features)
        Scaled inputs.
    scale_exponents : ndarray of shape (n_samples,), dtype int
        See :meth:`AttentionPolynomialNetwork.forward`; all zeros for the
        network's own output.

    Returns
    -------
    ndarray of shape (n_samples, n_outputs)
    """
    dtype, device = module.F.dtype, module.F.device
    x = torch.as_tensor(X, dtype=dtype)
    Y = np.empty((len(X), module.b.numel()))
    chunk = rows_per_chunk(module.row_bytes())
    for j in np.unique(scale_exponents):
        rows = torch.from_numpy(np.flatnonzero(scale_exponents == j))
        for part in row_chunks(len(rows), chunk):
            out = module(x[rows[part]].to(device), int(j))
            Y[rows[part].numpy()] = out.cpu().double().numpy()
    return Y
