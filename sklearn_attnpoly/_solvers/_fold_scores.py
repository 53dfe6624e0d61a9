"""Cross-validation scores of the ridge readout, per fold, degree and alpha.

A fold's model, ridge on the standardised monomials of degree ``<= q`` fitted
on the other folds' rows, predicts ``yhat = ybar_tr + c . (m(x) - mbar_tr)``.
It is scored in one of two forms, as scikit-learn's ``_RidgeGCV`` decomposes
``X^T X`` or ``X X^T``, whichever is smaller (:func:`uses_rows`):

- From the folds' moments alone (:func:`fold_scores`), when the fold's
  ``p`` monomials are at most its training rows. The squared error on the
  fold's rows is a quadratic form in ``c`` whose matrices are the fold's own
  moments, taken about the training rows' origin: with ``mbar``, ``ybar`` the
  fold's weighted means and ``e0 = ybar - ybar_tr - c . (mbar - mbar_tr)``,

      sum w (y - yhat)^2 = S_yy - 2 c . r + c^T G c + W e0^2,           (1)

  ``G``, ``r`` and ``S_yy`` the fold's centred normal equations. Each term is
  centred, so (1) loses only the digits the fit itself explains. The
  monomials of a lower degree are a leading block of the highest degree's,
  and every ``alpha`` of a degree comes from one tridiagonalisation
  (:class:`~sklearn_attnpoly._solvers._ridge_path.RidgePath`).
- From the rows (:func:`row_scores`), when the monomials outnumber the
  training rows. With ``Z`` the training rows' standardised monomials times
  ``sqrt(w)`` (a column per row, correlation units) and ``K = Z^T Z = U diag(l)
  U^T`` their ``n x n`` kernel, ridge's coefficients are ``c = Z U (l + a)^-1
  U^T sqrt(w) (y - ybar_tr)`` and the held-out predictions ``ybar_tr + C U (l
  + a)^-1 U^T sqrt(w) (y - ybar_tr)``, ``C`` the test rows' cross kernel: one
  eigendecomposition per degree and fold serves every ``alpha``. A degree's
  kernel is the previous degree's plus that of its own monomials.

Both forms drop the directions whose regularised eigenvalue is below
``RCOND`` of the largest (the nonzero eigenvalues of ``K`` are those of the
correlation matrix ``Z Z^T``), so they give the same scores where both run.
"""

import numpy as np
import scipy.linalg
from sklearn.metrics import mean_squared_error, r2_score, root_mean_squared_error

from .._polynomial import MonomialTable, n_monomials
from .._scaling import weighted_location_scale
from ._readout import RCOND, _spread, correlation_form
from ._ridge_path import RidgePath

#: The scorings computed from the moments, as scikit-learn names them.
SCORINGS = ("r2", "neg_mean_squared_error", "neg_root_mean_squared_error")


def uses_rows(n_train, n_monomials):
    """Whether a fold is scored from its rows' ``n x n`` kernel: when its
    training rows are fewer than its monomials (otherwise, from its moments'
    ``p x p`` normal equations)."""
    return n_train < n_monomials


def cv_scores(total, held_out, folds, X, Y, w, degrees, alphas, scoring):
    """Scores of every fold, degree and alpha, each degree in its form.

    Parameters
    ----------
    total : MomentAccumulator
        The statistics of all rows, of degree ``2 max(degrees)``.
    held_out : list of MomentAccumulator
        Each test fold's statistics, in ``total``'s frames.
    folds : list of ndarray
        Each test fold's rows.
    X : ndarray of shape (n_samples, n_features)
    Y : ndarray of shape (n_samples, n_outputs)
    w : ndarray of shape (n_samples,)
        Non-negative row weights (rows of weight zero play no part).
    degrees : list of int
    alphas : list of float
    scoring : {"r2", "neg_mean_squared_error", "neg_root_mean_squared_error"}

    Returns
    -------
    ndarray of shape (len(folds), len(degrees), len(alphas))
    """
    n_features = X.shape[1]
    scores = np.empty((len(folds), len(degrees), len(alphas)))
    for k, (fold, test) in enumerate(zip(held_out, folds, strict=True)):
        train = total - fold
        by_rows = [
            uses_rows(train.n_samples, n_monomials(n_features, q)) for q in degrees
        ]
        moments_degrees = [
            q for q, rows in zip(degrees, by_rows, strict=True) if not rows
        ]
        rows_degrees = [q for q, rows in zip(degrees, by_rows, strict=True) if rows]
        if moments_degrees:
            scores[k, np.logical_not(by_rows)] = fold_scores(
                train, fold, moments_degrees, alphas, scoring
            )
        if rows_degrees:
            is_test = np.zeros(len(X), dtype=bool)
            is_test[test] = True
            tr = ~is_test & (w > 0)
            te = is_test & (w > 0)
            frame = fold.target_frame
            scores[k, np.asarray(by_rows)] = row_scores(
                X[tr],
                frame.transform(Y[tr]),
                w[tr],
                X[te],
                frame.transform(Y[te]),
                w[te],
                rows_degrees,
                alphas,
                scoring,
                frame.scale,
            )
    return scores


def fold_scores(train, test, degrees, alphas, scoring):
    """Scores on ``test`` of ridge fitted on ``train``, per degree and alpha,
    from their moments (module docstring, (1)).

    Parameters
    ----------
    train, test : MomentAccumulator
        The training rows' and the held-out rows' statistics, in one frame,
        of degree at least ``2 max(degrees)``.
    degrees : list of int
        The normal equations are formed for the largest; a lower degree's are
        their leading block.
    alphas : ndarray
        Ridge's ``alpha`` values.
    scoring : {"r2", "neg_mean_squared_error", "neg_root_mean_squared_error"}
        As scikit-learn's scorers of those names, with the rows weighted;
        several targets are averaged uniformly.

    Returns
    -------
    ndarray of shape (len(degrees), len(alphas))
    """
    degree = max(degrees)
    unit = train.target_frame.scale
    test = test.moved(train.origin, test.target_origin)
    fitted = train.normal_equations(degree)
    held_out = test.normal_equations(degree)
    A, rhs, D = correlation_form(fitted)
    scores = np.empty((len(degrees), len(alphas)))
    for i, q in enumerate(degrees):
        p = n_monomials(train.n_features, q)
        path = RidgePath(A[:p, :p], rhs[:p])
        coef, _ = path.solve(np.asarray(alphas) / fitted.weight)
        coef /= D[None, :p, None]  # (alphas, p, outputs)
        G, r = held_out.gram[:p, :p], held_out.cross[:p]
        Gc = (G @ coef.transpose(1, 0, 2).reshape(p, -1)).reshape(p, *coef.shape[::2])
        quadratic = np.einsum("apo,pao->ao", coef, Gc)
        linear = np.einsum("apo,po->ao", coef, r)
        offset = (
            held_out.target_mean
            - fitted.target_mean
            - np.einsum("p,apo->ao", held_out.mean[:p] - fitted.mean[:p], coef)
        )
        squares = np.diag(held_out.target_gram)
        errors = squares - 2 * linear + quadratic + held_out.weight * offset**2
        errors = np.maximum(errors, 0.0)
        scores[i] = _score(errors, squares, held_out.weight, unit, scoring)
    return scores


def row_scores(X, Y, w, X_test, Y_test, w_test, degrees, alphas, scoring, unit):
    """Scores on the test rows of ridge fitted on the training rows, per
    degree and alpha, from the ``n x n`` kernels (module docstring).

    Parameters
    ----------
    X, Y, w : ndarray
        The training rows (``(n, d)``, ``(n, outputs)``, ``(n,)``), weights
        positive.
    X_test, Y_test, w_test : ndarray
        The test rows.
    degrees : list of int
        Ascending.
    alphas : list of float
    scoring : {"r2", "neg_mean_squared_error", "neg_root_mean_squared_error"}
    unit : ndarray of shape (n_outputs,)
        The caller's units of each target per unit of ``Y``.

    Returns
    -------
    ndarray of shape (len(degrees), len(alphas))
    """
    # the monomials of the inputs standardised on the training rows (their
    # scale cancels in the standardised monomials; it keeps the powers tame)
    shift, scale = weighted_location_scale(X, w)
    table = MonomialTable(X.shape[1], max(degrees))
    M = table.values((X - shift) / scale)[1:]  # (p, n): a monomial per row
    M_test = table.values((X_test - shift) / scale)[1:]
    weight = w.sum()
    raw = np.einsum("ij,ij,j->i", M, M, w)
    mean = M @ w / weight
    M -= mean[:, None]
    M_test -= mean[:, None]
    root = np.sqrt(w)
    M *= root
    D, constant = _spread(np.einsum("ij,ij->i", M, M), raw, len(X))
    D[constant] = np.inf  # a zero row: no signal
    M /= D[:, None]
    M_test /= D[:, None]
    y_mean = w @ Y / weight
    y_test_mean = w_test @ Y_test / w_test.sum()
    residual = Y_test - y_mean
    squares = w_test @ (Y_test - y_test_mean) ** 2
    target = root[:, None] * (Y - y_mean)
    K = np.zeros((len(X), len(X)), order="F")  # dsyrk's own order: no copies
    C = np.zeros((len(X_test), len(X)))
    scores = np.empty((len(degrees), len(alphas)))
    done = 0
    for i, q in enumerate(degrees):
        block = slice(done, int(table.start[q + 1]) - 1)  # without the constant
        done = block.stop
        if block.stop > block.start:
            Z = M[block]
            # K += Z^T Z, lower half; Z.T is Fortran-ordered, as the BLAS reads it
            K = scipy.linalg.blas.dsyrk(1.0, Z.T, beta=1.0, c=K, lower=1, overwrite_c=1)
            C += M_test[block].T @ Z
        eigenvalues, U = scipy.linalg.eigh(K, lower=True, check_finite=False)
        # directions of K's null space carry nothing (Z u = 0, so C u = 0):
        # their computed eigenvalues and cross kernels are rounding, which
        # a small alpha would amplify; they are dropped, as lstsq drops them
        rank = eigenvalues > len(K) * np.finfo(float).eps * eigenvalues[-1]
        eigenvalues, U = eigenvalues[rank], U[:, rank]
        projected = U.T @ target  # (rank, outputs)
        CU = C @ U
        errors = np.empty((len(alphas), Y.shape[1]))
        for j, alpha in enumerate(alphas):
            regularised = eigenvalues + alpha / weight
            keep = regularised > RCOND * regularised.max(initial=0.0)
            prediction = CU[:, keep] @ (projected[keep] / regularised[keep, None])
            errors[j] = w_test @ (residual - prediction) ** 2
        scores[i] = _score(errors, squares, w_test.sum(), unit, scoring)
    return scores


def _score(errors, squares, weight, unit, scoring):
    """The scoring from the weighted sums of squared errors (``(alphas,
    outputs)``) and of squared deviations of the targets (``(outputs,)``), in
    the frame's units of the targets, ``unit`` of the caller's each."""
    if scoring == "r2":
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = 1 - errors / squares
        # scikit-learn's r2_score for a constant target: 1 if predicted
        # exactly, else 0
        constant = squares <= 0
        r2[:, constant] = np.where(errors[:, constant] <= 0, 1.0, 0.0)
        return r2.mean(axis=1)
    mse = errors * unit**2 / weight
    if scoring == "neg_mean_squared_error":
        return -mse.mean(axis=1)
    return -np.sqrt(mse).mean(axis=1)


_PREDICTION_SCORES = {
    "r2": r2_score,
    "neg_mean_squared_error": lambda *a, **k: -mean_squared_error(*a, **k),
    "neg_root_mean_squared_error": lambda *a, **k: -root_mean_squared_error(*a, **k),
}


def prediction_score(Y, predicted, sample_weight, scoring):
    """The scoring of :data:`SCORINGS` from predictions, as scikit-learn's
    scorer of that name computes it with ``sample_weight`` (several targets
    averaged uniformly); the solvers that are not scored from moments use it.

    Examples
    --------
    >>> prediction_score(np.array([[1.0], [3.0]]), np.array([[1.0], [2.0]]),
    ...                  np.array([1.0, 3.0]), "neg_mean_squared_error")
    -0.75
    """
    return float(_PREDICTION_SCORES[scoring](Y, predicted, sample_weight=sample_weight))
