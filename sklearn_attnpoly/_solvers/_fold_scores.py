"""Cross-validation scores of the ridge readout from the folds' moments alone.

A fold's model, ridge on the standardised monomials of degree ``<= q`` fitted
on the other folds' rows, predicts ``yhat = ybar_tr + c . (m(x) - mbar_tr)``.
Its squared error on the fold's rows is a quadratic form in ``c`` whose
matrices are the fold's own moments, taken about the training rows' origin:
with ``mbar``, ``ybar`` the fold's weighted means and ``e0 = ybar - ybar_tr -
c . (mbar - mbar_tr)``,

    sum w (y - yhat)^2 = S_yy - 2 c . r + c^T G c + W e0^2,           (1)

``G``, ``r`` and ``S_yy`` the fold's centred normal equations. Each term is
centred, so (1) loses only the digits the fit itself explains. The monomials
of a lower degree are a leading block of the highest degree's, and every
``alpha`` of a degree comes from one tridiagonalisation
(:class:`~sklearn_attnpoly._solvers._ridge_path.RidgePath`).
"""

import numpy as np
from sklearn.metrics import mean_squared_error, r2_score, root_mean_squared_error

from ._readout import correlation_form
from ._ridge_path import RidgePath

#: The scorings computed from the moments, as scikit-learn names them.
SCORINGS = ("r2", "neg_mean_squared_error", "neg_root_mean_squared_error")


def uses_rows(n_train, n_monomials):
    """Whether a fold is scored from its rows' ``n x n`` kernel: when its
    training rows are fewer than its monomials (otherwise, from its moments'
    ``p x p`` normal equations)."""
    return n_train < n_monomials


def fold_scores(train, test, n_monomials, alphas, scoring):
    """Scores on ``test`` of ridge fitted on ``train``, per degree and alpha.

    Parameters
    ----------
    train, test : MomentAccumulator
        The training rows' and the held-out rows' statistics, in one frame.
    n_monomials : list of int
        For each degree, its number of monomials (degrees ``1..q``): the
        leading block of the highest degree's normal equations it uses.
    alphas : ndarray
        Ridge's ``alpha`` values.
    scoring : {"r2", "neg_mean_squared_error", "neg_root_mean_squared_error"}
        As scikit-learn's scorers of those names, with the rows weighted;
        several targets are averaged uniformly.

    Returns
    -------
    ndarray of shape (len(n_monomials), len(alphas))
    """
    degree = train.degree
    unit = train.target_frame.scale
    test = test.moved(train.origin, test.target_origin)
    fitted = train.normal_equations(degree)
    held_out = test.normal_equations(degree)
    A, rhs, D = correlation_form(fitted)
    scores = np.empty((len(n_monomials), len(alphas)))
    for i, p in enumerate(n_monomials):
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
