"""The estimator with its degree and ridge strength chosen by cross-validation."""

import inspect
import warnings
from numbers import Integral, Real

import numpy as np
from scipy.stats import rankdata
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin, _fit_context
from sklearn.model_selection import ParameterGrid, check_cv
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ._regressor import AttentionPolynomialRegressor, fit_from_accumulated
from ._scaling import AffineScaling, TargetScaling
from ._sizes import check_cv_fits
from ._solvers._accumulator import MomentAccumulator
from ._solvers._fold_scores import SCORINGS, cv_scores, prediction_score
from ._validation import validate_fit_data
from ._warnings import ExtrapolationWarning

#: The parameters the refitted estimator takes as they are; their constraints
#: and defaults are the regressor's own.
_SHARED = ("engine", "bound", "headroom", "out_of_bound", "dtype", "device")
_DEFAULTS = {
    name: parameter.default
    for name, parameter in inspect.signature(
        AttentionPolynomialRegressor.__init__
    ).parameters.items()
}


class AttentionPolynomialRegressorCV(MultiOutputMixin, RegressorMixin, BaseEstimator):
    """Attention polynomial regression with degree and alpha cross-validated.

    :class:`AttentionPolynomialRegressor` with ``degree`` and ``alpha`` chosen
    by K-fold cross-validation from the folds' moments. One pass over the
    rows sums each held-out fold's weighted moments of degree ``<= 2
    max(degrees)``; a fold's training moments are the total minus its
    own. Every candidate is then scored without a refit: where a fold's
    monomials are at most its training rows, from the moments (the monomials
    of a lower degree are a leading block of the highest degree's normal
    equations, and all ``alphas`` of a degree and fold come from one
    tridiagonalisation); where they are more, from one eigendecomposition of
    the fold's ``n x n`` kernel of standardised monomials per degree, as
    :class:`~sklearn.linear_model.RidgeCV` switches to its Gram form.
    The model of each ``(degree, alpha)`` on each fold is the one
    ``AttentionPolynomialRegressor(degree=degree, alpha=alpha)`` fits on the
    training folds (which is
    ``make_pipeline(StandardScaler(), PolynomialFeatures(degree,
    include_bias=False), StandardScaler(), Ridge(alpha))``, every step refitted
    on the training folds), so the scores are those of
    :class:`~sklearn.model_selection.GridSearchCV` over that grid with the same
    folds. The best candidate is refitted on all the rows, from their moments.

    Parameters
    ----------
    degrees : array-like of int, default=(1, 2, 3, 4, 5)
        The degrees ``q`` to try.
    alphas : array-like of float, default=(1e-8, 1e-6, 1e-4, 1e-2, 1.0, 100.0)
        The ridge strengths to try, as
        :class:`AttentionPolynomialRegressor`'s ``alpha``.
    cv : int, cross-validation generator or iterable, default=5
        As :func:`~sklearn.model_selection.check_cv` takes it (an int is
        :class:`~sklearn.model_selection.KFold`, unshuffled). The test folds
        must partition the rows, each training set their complement (KFold,
        GroupKFold, PredefinedSplit, ...).
    scoring : {"r2", "neg_mean_squared_error", "neg_root_mean_squared_error"} \
            or None, default=None
        ``None`` is the regressor's ``score``, R^2. These are computed from
        the moments, with the rows weighted by ``sample_weight``; other
        scorers need each candidate's predictions, which this estimator does
        not form: use :class:`~sklearn.model_selection.GridSearchCV` over
        :class:`AttentionPolynomialRegressor` for them.
    solver : {"lstsq", "varpro"}, default="lstsq"
        ``"lstsq"``: the closed form, every ``(degree, alpha)`` scored from
        the folds' moments, as above. ``"varpro"``: learned directions, each
        degree fitted by ``AttentionPolynomialRegressor(degree,
        solver="varpro")`` on each fold's complement, with its own choice of
        the number of directions and of the ridge inside each fit (``alphas``
        is not used), and scored on the fold's predictions; the best degree
        is refitted on all the rows.
    random_state : int, RandomState instance or None, default=None
        Seeds ``"varpro"``'s fits (one seed for every fold and degree).
    engine : {"structured", "dense"}, default="structured"
        Passed to the refitted :class:`AttentionPolynomialRegressor`.
    bound : float, default=1.0
        Passed to the refitted :class:`AttentionPolynomialRegressor`.
    headroom : float, default=2.0
        Passed to the refitted :class:`AttentionPolynomialRegressor`.
    out_of_bound : {"extend", "warn", "raise", "clip"}, default="extend"
        Passed to the refitted :class:`AttentionPolynomialRegressor`.
    dtype : {"float64", "float32"}, default="float64"
        Passed to the refitted :class:`AttentionPolynomialRegressor`.
    device : str, default="auto"
        Passed to the refitted :class:`AttentionPolynomialRegressor`.

    Attributes
    ----------
    degree_ : int
        The chosen degree.
    alpha_ : float
        The chosen ridge strength (``"varpro"``: the one its refit chose).
    best_score_ : float
        Their mean cross-validated score.
    best_index_ : int
        Their row in ``cv_results_``.
    cv_results_ : dict of ndarrays
        As :class:`~sklearn.model_selection.GridSearchCV`'s over ``{"degree":
        degrees, "alpha": alphas}`` (the same order of candidates; for
        ``"varpro"`` over ``{"degree": degrees}``): ``param_degree``,
        ``param_alpha``, ``params``, ``split{k}_test_score``,
        ``mean_test_score``, ``std_test_score``, ``rank_test_score``.
    best_estimator_ : AttentionPolynomialRegressor
        Refitted on all rows with ``degree_`` (and ``alpha_`` for
        ``"lstsq"``).
    n_splits_ : int
        Number of folds.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string column names.

    See Also
    --------
    AttentionPolynomialRegressor : The estimator, with a given degree and alpha.
    sklearn.linear_model.RidgeCV : Ridge with its alpha cross-validated.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_attnpoly import AttentionPolynomialRegressorCV
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 2))
    >>> y = X[:, 0] ** 3 - X[:, 1] + 0.01 * rng.normal(size=300)
    >>> est = AttentionPolynomialRegressorCV(degrees=(1, 2, 3, 4)).fit(X, y)
    >>> est.degree_, est.best_score_ > 0.999
    (3, True)
    """

    _parameter_constraints: dict = {
        "degrees": ["array-like"],
        "alphas": ["array-like"],
        "cv": ["cv_object"],
        "scoring": [None, StrOptions(set(SCORINGS))],
        "solver": [StrOptions({"lstsq", "varpro"})],
        "random_state": ["random_state"],
        **{
            name: AttentionPolynomialRegressor._parameter_constraints[name]
            for name in _SHARED
        },
    }

    def __init__(
        self,
        degrees=(1, 2, 3, 4, 5),
        alphas=(1e-8, 1e-6, 1e-4, 1e-2, 1.0, 100.0),
        *,
        cv=5,
        scoring=None,
        solver="lstsq",
        random_state=None,
        engine=_DEFAULTS["engine"],
        bound=_DEFAULTS["bound"],
        headroom=_DEFAULTS["headroom"],
        out_of_bound=_DEFAULTS["out_of_bound"],
        dtype=_DEFAULTS["dtype"],
        device=_DEFAULTS["device"],
    ):
        self.degrees = degrees
        self.alphas = alphas
        self.cv = cv
        self.scoring = scoring
        self.solver = solver
        self.random_state = random_state
        self.engine = engine
        self.bound = bound
        self.headroom = headroom
        self.out_of_bound = out_of_bound
        self.dtype = dtype
        self.device = device

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, groups=None):
        """Score every ``(degree, alpha)`` on the folds, then refit the best.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Training targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights, for the fits and the scores.
        groups : array-like of shape (n_samples,), default=None
            Group labels, for a group splitter such as GroupKFold.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        degrees = _checked(self.degrees, "degrees", Integral, 1)
        alphas = _checked(self.alphas, "alphas", Real, 0)
        X, Y, w = validate_fit_data(self, X, y, sample_weight, drop_zero_weight=False)
        folds = _test_folds(
            check_cv(self.cv), X, Y[:, 0] if Y.shape[1] == 1 else Y, groups
        )
        keep = w > 0
        folds = [rows[keep[rows]] for rows in folds]
        if any(not len(rows) for rows in folds):
            raise ValueError(
                "Every test fold needs a row of positive weight to be scored; "
                "one has only rows of weight zero."
            )
        self.n_splits_ = len(folds)
        if self.solver == "varpro":
            return self._fit_varpro(X, Y, w, folds, degrees)
        check_cv_fits(
            X.shape[1], degrees, Y.shape[1], keep.sum(), [len(f) for f in folds]
        )
        frame = AffineScaling.fit(X[keep], w[keep], self.bound)
        target_frame = TargetScaling.fit(Y[keep], w[keep])
        held_out = [  # one pass over the rows: each is in one fold
            MomentAccumulator(
                X.shape[1], max(degrees), Y.shape[1], frame, target_frame
            ).update(X[rows], Y[rows], w[rows])
            for rows in folds
        ]
        total = held_out[0]
        for fold in held_out[1:]:
            total = total + fold
        split_scores = cv_scores(
            total, held_out, folds, X, Y, w, degrees, alphas, self.scoring or "r2"
        )  # (folds, degrees, alphas)
        self._record(split_scores, degrees, alphas)
        best = AttentionPolynomialRegressor(
            degree=self.degree_,
            alpha=self.alpha_,
            **{name: getattr(self, name) for name in _SHARED},
        )
        best._validate_params()
        self.best_estimator_ = fit_from_accumulated(best, total)
        return self

    def _fit_varpro(self, X, Y, w, folds, degrees):
        """Score each degree by varpro's own fit on each fold's complement
        (its size and ridge chosen inside), then refit the best on every row."""
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)

        def learned(degree):
            return AttentionPolynomialRegressor(
                degree=degree,
                solver="varpro",
                random_state=seed,
                **{name: getattr(self, name) for name in _SHARED},
            )

        split_scores = np.empty((len(folds), len(degrees), 1))
        rows = np.arange(len(X))
        Y = Y[:, 0] if Y.shape[1] == 1 else Y  # as the caller's y
        for k, test in enumerate(folds):
            train = np.setdiff1d(rows, test)
            train = train[w[train] > 0]
            for i, degree in enumerate(degrees):
                est = learned(degree).fit(X[train], Y[train], w[train])
                with warnings.catch_warnings():  # a fold's rows are scored
                    warnings.simplefilter("ignore", ExtrapolationWarning)
                    predicted = est.predict(X[test])
                split_scores[k, i, 0] = prediction_score(
                    Y[test], predicted, w[test], self.scoring or "r2"
                )
        self._record(split_scores, degrees, None)
        keep = w > 0
        self.best_estimator_ = learned(self.degree_).fit(X[keep], Y[keep], w[keep])
        self.alpha_ = float(getattr(self.best_estimator_, "alpha_", np.nan))
        return self

    def _record(self, split_scores, degrees, alphas):
        """``cv_results_`` in GridSearchCV's order of candidates and the best
        (``alphas=None``: the degrees alone)."""
        space = (
            {"degree": degrees}
            if alphas is None
            else {"degree": degrees, "alpha": alphas}
        )
        grid = list(ParameterGrid(space))
        position = {
            (q, a): (i, j)
            for i, q in enumerate(degrees)
            for j, a in enumerate(alphas or [None])
        }
        where = [position[(p["degree"], p.get("alpha"))] for p in grid]
        scores = np.stack([split_scores[:, i, j] for i, j in where], axis=1)
        results = {
            f"param_{name}": np.ma.MaskedArray([p[name] for p in grid])
            for name in space
        }
        results["params"] = grid
        for k, fold in enumerate(scores):
            results[f"split{k}_test_score"] = fold
        results["mean_test_score"] = scores.mean(axis=0)
        results["std_test_score"] = scores.std(axis=0)
        results["rank_test_score"] = rankdata(
            -results["mean_test_score"], method="min"
        ).astype(np.int32)
        self.cv_results_ = results
        self.best_index_ = int(results["rank_test_score"].argmin())
        self.best_score_ = float(results["mean_test_score"][self.best_index_])
        self.degree_ = int(grid[self.best_index_]["degree"])
        if alphas is not None:
            self.alpha_ = float(grid[self.best_index_]["alpha"])

    def predict(self, X):
        """The predictions of :attr:`best_estimator_`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to predict.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The predictions.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self.best_estimator_.predict(X)

    def to_polynomial(self):
        """Return the refitted model's polynomial.

        Returns
        -------
        dict
            ``{exponents: coefficient}``, as
            :meth:`AttentionPolynomialRegressor.to_polynomial` gives it.
        """
        check_is_fitted(self)
        return self.best_estimator_.to_polynomial()


def _checked(values, name, kind, lowest):
    """A non-empty 1-D array of distinct numbers of ``kind``, all ``>= lowest``."""
    array = np.asarray(values)
    if (
        array.ndim != 1
        or not len(array)
        or not all(
            isinstance(v, kind) and not isinstance(v, bool) for v in array.tolist()
        )
        or not np.isfinite(array.astype(float)).all()
        or (array < lowest).any()
        or len(np.unique(array)) != len(array)
    ):
        raise ValueError(
            f"{name} must be a non-empty list of distinct finite numbers >= "
            f"{lowest}; got {values!r}."
        )
    return array.tolist()


def _test_folds(cv, X, y, groups):
    """The splitter's test folds, which must partition the rows (at least two
    of them), each training set the complement of its test fold."""
    folds = []
    seen = np.zeros(len(X), dtype=int)
    complements = True
    for train, test in cv.split(X, y, groups):
        train, test = np.asarray(train), np.asarray(test)
        complements &= len(train) + len(test) == len(X)
        complements &= not np.intersect1d(train, test).size
        seen[test] += 1
        folds.append(test)
    if len(folds) < 2 or (seen != 1).any() or not complements:
        raise ValueError(
            "AttentionPolynomialRegressorCV needs at least two test folds that "
            "partition the rows, each training set their complement (KFold, "
            f"GroupKFold, PredefinedSplit, ...); {cv!r} does not split so."
        )
    return folds
