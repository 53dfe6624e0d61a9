"""How large a fit is, known from the arguments before anything is enumerated.

The lattice directions of Lemma 3.3 number ``C(d - 1 + q, q)`` and the
readout's power features ``C(d + q, q) - 1``; at ``d = 10, q = 50`` the first
is about 1.3e10. :func:`check_fit_memory` compares the memory of the largest
arrays a fit holds with what the machine has, so that such a request is refused
at once, with its sizes, instead of enumerating directions for hours.
"""

import math

import torch

from ._device import available_memory
from ._polynomial import n_monomials
from ._solvers._fold_scores import uses_rows
from .attention import TokenLayout, boltzmann_arrays, check_dense_fits


def n_lattice_directions(n_features, degree):
    """``C(d - 1 + q, q)``: the directions of Lemma 3.3, as many as the
    monomials of degree exactly ``q``."""
    return math.comb(n_features - 1 + degree, degree)


def fit_bytes(n_features, degree, n_directions, monomials=True, n_samples=1):
    """Bytes of the largest float64 arrays a fit holds on the CPU.

    Choosing the power slots factors ``V_q``, an ``n x C(d - 1 + q, q)``
    matrix, in a copy (``2 n C(d - 1 + q, q)`` entries); the readout's normal
    equations, their scaled copy and their factor are ``p x p`` each, with ``p
    = min(n q, C(d + q, q) - 1)`` features (``3 p^2``). A fit that never forms
    the monomials (``monomials=False``: the varpro solver, whose readout is a
    ridge on the ``n q`` slots) holds only the ``p x p`` arrays, ``p = n q``;
    one that does holds the readout's data too (:func:`readout_bytes`).
    """
    if not monomials:
        p = n_directions * degree
        return 8 * 3 * p * p
    n_q = n_lattice_directions(n_features, degree)
    p = min(n_directions * degree, n_monomials(n_features, degree))
    return 8 * (2 * n_directions * n_q + 3 * p * p) + readout_bytes(
        n_features, degree, n_samples
    )


def readout_bytes(n_features, degree, n_samples):
    """Bytes of the closed-form readout's data: the moments of degree ``2q``
    (``C(d + 2q, 2q)``, with their position tables, about 3 arrays), or,
    with few rows, the monomials of every row (``N (C(d + q, q) - 1)``,
    twice); the fit takes the cheaper (``_readout.choose_method``)."""
    moments = 3 * math.comb(n_features + 2 * degree, 2 * degree)
    dual = 2 * n_samples * n_monomials(n_features, degree)
    return 8 * min(moments, dual)


def check_fit_memory(n_features, degree, n_directions, *, engine, batch_rows,
                   dtype, device, monomials=True,
                   attention="hardmax", n_samples=1, gradients=False):  # fmt: skip
    """Raise a MemoryError, before any enumeration, for a fit that cannot fit.

    Parameters
    ----------
    n_features, degree : int
    n_directions : int or None
        ``None`` for the lattice directions.
    engine : {"structured", "dense"}
    batch_rows : int
        Rows a forward pass of the dense engine holds at once (a training
        batch, or one row when only predicting).
    dtype : torch.dtype
    device : str
    monomials : bool, default=True
        Whether the fit forms the monomials' normal equations and chooses
        power slots (every solver but varpro).
    attention : {"hardmax", "boltzmann"}, default="hardmax"
        The blocks' maximum; the Boltzmann blocks score every pair of tokens.
    n_samples : int, default=1
        Training rows.
    gradients : bool, default=False
        Whether the forward passes keep what a backward pass needs (the
        gradient solvers).
    """
    n = n_directions or n_lattice_directions(n_features, degree)
    needed = fit_bytes(n_features, degree, n, monomials, n_samples)
    available = available_memory("cpu")
    if needed > available:
        lattice = " (C(d - 1 + q, q))" if n_directions is None else ""
        raise MemoryError(
            f"degree={degree} with {n_features} features needs {n} directions"
            f"{lattice} and {n_monomials(n_features, degree)} power "
            f"features (C(d + q, q) - 1): about {needed / 2**30:.3g} GiB to "
            f"fit, but {available / 2**30:.3g} GiB are available. Use a "
            "smaller degree or n_directions, or fewer features."
        )
    if engine == "dense":
        layout = TokenLayout(n, degree, compact=False)
        check_dense_fits(batch_rows, layout, dtype, torch.device(device))
    elif attention == "boltzmann":
        itemsize = torch.empty((), dtype=dtype).element_size()
        arrays = boltzmann_arrays(degree, gradients)
        needed = arrays * batch_rows * n * n * itemsize
        available = available_memory(torch.device(device))
        if needed > available:
            raise MemoryError(
                f"attention='boltzmann' needs about {needed / 2**30:.1f} GiB for a "
                f"batch of {batch_rows} inputs with n = {n} tokens (every token "
                f"scores every other: memory O(batch n^2)), but "
                f"{available / 2**30:.1f} GiB are available on {device}. Use a "
                "smaller batch_size or n_directions."
            )


def check_polynomial_fits(n_features, degree, n_outputs):
    """Raise a MemoryError, before anything is listed, when the expansion of a
    model into its monomials (``to_polynomial``) will not fit in memory.

    Each of the ``C(d + q, q)`` monomials holds its exponents (``d``
    integers, in a table and in the tuple of its dict key), its coefficients
    (``n_outputs`` floats, in the three arrays of the change of units) and a
    dict entry: about ``16 d + 24 n_outputs + 150`` bytes.
    """
    count = n_monomials(n_features, degree) + 1
    needed = count * (16 * n_features + 24 * n_outputs + 150)
    available = available_memory("cpu")
    if needed > available:
        raise MemoryError(
            f"to_polynomial lists {count} monomials (C(d + q, q)) of degree "
            f"<= {degree} in {n_features} features: about {needed / 2**30:.3g} "
            f"GiB, but {available / 2**30:.3g} GiB are available. "
            "to_ridge_form gives the same model as its directions and each "
            "direction's polynomial."
        )


def cv_bytes(n_features, degree, degrees, n_outputs, n_train, n_test, n_folds):
    """Bytes of the largest arrays cross-validating ``degree`` among
    ``degrees`` holds, and refitting it.

    Every fold's moments are of degree ``2 Q``, ``Q = max(degrees)``
    (``C(d + 2Q, 2Q)`` each; the folds', the total, and the copies that moving
    and subtracting them make, ``n_folds + 6`` in all), with their layout's
    tables (the positions and binomials of a translation, three entries per
    unit of degree of each moment, and the exponents). A degree whose ``p =
    C(d + q, q) - 1`` monomials are at most a fold's training rows is scored
    from the ``p x p`` normal equations of the training and test rows, their
    positions and the path's factorisation (``6 p^2``); one with more, from the
    rows' monomials and the ``n x n`` kernels, their eigenvectors and the test
    rows' cross kernels (``2 p n`` and ``6 n^2``,
    :func:`~sklearn_attnpoly._solvers._fold_scores.uses_rows`). Any degree may
    be chosen and refitted from the moments (:func:`fit_bytes`), after the
    scoring's arrays are freed: the peak is the moments and their tables with
    the larger of the two.

    Parameters
    ----------
    n_features, degree : int
    degrees : list of int
        All the degrees cross-validated.
    n_outputs : int
    n_train, n_test : int
        The most training and test rows of a fold.
    n_folds : int
    """
    top = 2 * max(degrees)
    n_moments = math.comb(n_features + top, top)
    moment_entries = (n_folds + 6) * (
        n_moments + n_outputs * math.comb(n_features + top // 2, top // 2)
    )
    mean_degree = top * n_features / (n_features + 1)
    layout_entries = n_moments * (3 * mean_degree + n_features / 4)
    p = n_monomials(n_features, degree)
    n = n_train + n_test
    if uses_rows(n_train, p):
        scoring = 2 * (p + 1) * n + 6 * n * n
    else:
        scoring = 6 * p * p
    refit = fit_bytes(
        n_features,
        degree,
        n_lattice_directions(n_features, degree),
        n_samples=n,
    )
    return int(8 * (moment_entries + layout_entries + max(scoring, refit / 8)))


def check_cv_fits(n_features, degrees, n_outputs, n_samples, test_sizes):
    """Raise a MemoryError, before any moment is summed, for a degree whose
    cross-validation or refit cannot fit (:func:`cv_bytes`).

    Parameters
    ----------
    n_features : int
    degrees : list of int
    n_outputs : int
    n_samples : int
        Rows of positive weight.
    test_sizes : list of int
        Rows of each test fold.
    """
    n_test = max(test_sizes)
    n_train = n_samples - min(test_sizes)
    needed = {
        q: cv_bytes(n_features, q, degrees, n_outputs, n_train, n_test, len(test_sizes))
        for q in degrees
    }
    degree = max(needed, key=needed.get)
    available = available_memory("cpu")
    if needed[degree] > available:
        top = 2 * max(degrees)
        raise MemoryError(
            f"degree={degree} with {n_features} features needs "
            f"{n_monomials(n_features, degree)} power features (C(d + q, q) "
            f"- 1) and, with max(degrees)={max(degrees)}, "
            f"{math.comb(n_features + top, top)} moments per fold (C(d + 2 "
            f"max(degrees), 2 max(degrees))): about {needed[degree] / 2**30:.3g} "
            f"GiB to cross-validate over {len(test_sizes)} folds and refit, but "
            f"{available / 2**30:.3g} GiB are available. Use smaller degrees, or "
            "fewer features."
        )
