"""AttentionPolynomialRegressorCV: the scores GridSearchCV gives over the same
grid and folds, from the folds' moments alone."""

import time

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.model_selection import (
    GridSearchCV,
    GroupKFold,
    KFold,
    PredefinedSplit,
    ShuffleSplit,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_attnpoly import (
    AttentionPolynomialRegressor,
    AttentionPolynomialRegressorCV,
    _regressor_cv,
    _sizes,
)
from sklearn_attnpoly._sizes import cv_bytes
from sklearn_attnpoly._solvers import _fold_scores

ALPHAS = (1e-6, 1e-3, 0.1, 10.0)


def _data(n_samples=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 3)) * [1.0, 2.0, 0.5] + 1.0
    y = X[:, 0] ** 3 - X[:, 1] * X[:, 2] + 0.5 * rng.normal(size=n_samples)
    return X, y


def _grid_search(scoring, cv):
    pipe = Pipeline(
        [
            ("scale", StandardScaler()),
            ("poly", PolynomialFeatures(include_bias=False)),
            ("standardise", StandardScaler()),
            ("ridge", Ridge()),
        ]
    )
    grid = {"poly__degree": [1, 2, 3], "ridge__alpha": list(ALPHAS)}
    return GridSearchCV(pipe, grid, cv=cv, scoring=scoring)


def _by_candidate(results, degree_key, alpha_key):
    return {
        (p[degree_key], p[alpha_key]): score
        for p, score in zip(results["params"], results["mean_test_score"], strict=True)
    }


@pytest.mark.parametrize(
    "scoring",
    [None, "r2", "neg_mean_squared_error", "neg_root_mean_squared_error"],
)
def test_scores_are_those_of_grid_search_over_the_pipeline(scoring):
    X, y = _data()
    ours = AttentionPolynomialRegressorCV(
        degrees=(1, 2, 3), alphas=ALPHAS, cv=KFold(5), scoring=scoring
    ).fit(X, y)
    theirs = _grid_search(scoring, KFold(5)).fit(X, y)
    got = _by_candidate(ours.cv_results_, "degree", "alpha")
    expected = _by_candidate(theirs.cv_results_, "poly__degree", "ridge__alpha")
    assert got.keys() == expected.keys()
    np.testing.assert_allclose(
        [got[k] for k in expected], list(expected.values()), rtol=1e-8, atol=1e-10
    )
    assert (ours.degree_, ours.alpha_) == (
        theirs.best_params_["poly__degree"],
        theirs.best_params_["ridge__alpha"],
    )
    assert ours.best_score_ == pytest.approx(theirs.best_score_, rel=1e-8)


def test_cv_results_follow_grid_search_for_the_regressor():
    X, y = _data(seed=1)
    ours = AttentionPolynomialRegressorCV(degrees=(1, 2), alphas=(1e-3, 1.0), cv=3)
    ours.fit(X, y)
    theirs = GridSearchCV(
        AttentionPolynomialRegressor(),
        {"degree": [1, 2], "alpha": [1e-3, 1.0]},
        cv=3,
    ).fit(X, y)
    assert ours.cv_results_["params"] == theirs.cv_results_["params"]
    for key in ("mean_test_score", "split2_test_score", "std_test_score"):
        np.testing.assert_allclose(
            ours.cv_results_[key], theirs.cv_results_[key], rtol=1e-8
        )
    np.testing.assert_array_equal(
        ours.cv_results_["rank_test_score"], theirs.cv_results_["rank_test_score"]
    )
    assert ours.best_index_ == theirs.best_index_


def test_the_best_is_refitted_on_every_row():
    X, y = _data(seed=2)
    cv = AttentionPolynomialRegressorCV(degrees=(1, 2, 3), alphas=ALPHAS).fit(X, y)
    refit = AttentionPolynomialRegressor(degree=cv.degree_, alpha=cv.alpha_).fit(X, y)
    np.testing.assert_allclose(cv.predict(X), refit.predict(X), rtol=1e-9, atol=1e-9)
    assert cv.best_estimator_.degree == cv.degree_ == 3
    assert cv.score(X, y) == pytest.approx(refit.score(X, y), rel=1e-12)


def test_weights_are_repeated_rows():
    # weight 2 is the row twice, in the same fold
    X, y = _data(n_samples=120, seed=3)
    w = np.where(np.arange(120) % 3 == 0, 2.0, 1.0)
    fold = np.arange(120) % 4
    repeat = np.repeat(np.arange(120), w.astype(int))
    params = {"degrees": (1, 2, 3), "alphas": ALPHAS}
    weighted = AttentionPolynomialRegressorCV(cv=PredefinedSplit(fold), **params)
    weighted.fit(X, y, sample_weight=w)
    repeated = AttentionPolynomialRegressorCV(
        cv=PredefinedSplit(fold[repeat]), **params
    ).fit(X[repeat], y[repeat])
    np.testing.assert_allclose(
        weighted.cv_results_["mean_test_score"],
        repeated.cv_results_["mean_test_score"],
        rtol=1e-9,
    )


def test_group_folds():
    X, y = _data(seed=4)
    groups = np.arange(len(X)) // 30
    ours = AttentionPolynomialRegressorCV(
        degrees=(1, 2, 3), alphas=ALPHAS, cv=GroupKFold(4)
    ).fit(X, y, groups=groups)
    theirs = _grid_search(None, GroupKFold(4)).fit(X, y, groups=groups)
    assert ours.best_score_ == pytest.approx(theirs.best_score_, rel=1e-8)


def test_folds_must_partition_the_rows_and_weigh_something():
    X, y = _data(seed=5)
    with pytest.raises(ValueError, match="test folds that partition the rows"):
        AttentionPolynomialRegressorCV(cv=ShuffleSplit(3, random_state=0)).fit(X, y)
    w = np.ones(len(X))
    w[:100] = 0.0  # the first of three folds
    with pytest.raises(ValueError, match="only rows of weight zero"):
        AttentionPolynomialRegressorCV(cv=3).fit(X, y, sample_weight=w)


@pytest.mark.parametrize(
    "params, error, message",
    [
        ({"scoring": "explained_variance"}, InvalidParameterError, "'scoring'"),
        ({"degrees": (2, 0)}, ValueError, "degrees must be a non-empty list"),
        ({"degrees": (2, 2)}, ValueError, "distinct"),
        ({"alphas": (-1.0,)}, ValueError, "alphas must be a non-empty list"),
        ({"alphas": ()}, ValueError, "alphas must be a non-empty list"),
    ],
)
def test_bad_parameters(params, error, message):
    X, y = _data(seed=6)
    with pytest.raises(error, match=message):
        AttentionPolynomialRegressorCV(**params).fit(X, y)


@pytest.mark.slow  # twenty varpro fits
def test_varpro_chooses_the_degree_with_the_same_splits():
    """solver="varpro": each degree fitted by varpro (its own size and ridge)
    on each fold's complement and scored on the fold, as GridSearchCV over the
    degree scores it; the best refitted on all rows."""
    from sklearn.model_selection import GridSearchCV, KFold

    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(240, 3))
    t = X @ np.array([0.6, -0.8, 0.0])
    y = t**3 - 0.5 * X[:, 2] ** 2 + 0.01 * rng.normal(size=240)
    folds = KFold(3, shuffle=True, random_state=0)
    cv = AttentionPolynomialRegressorCV(
        degrees=(1, 2, 3), solver="varpro", cv=folds, random_state=0
    ).fit(X, y)
    assert cv.degree_ == 3
    assert set(cv.cv_results_) >= {"param_degree", "params", "mean_test_score"}
    assert "param_alpha" not in cv.cv_results_
    assert cv.alpha_ == cv.best_estimator_.alpha_
    seed = np.random.RandomState(0).randint(np.iinfo(np.int32).max)
    search = GridSearchCV(
        AttentionPolynomialRegressor(solver="varpro", random_state=seed),
        {"degree": [1, 2, 3]},
        cv=folds,
    ).fit(X, y)
    np.testing.assert_allclose(
        cv.cv_results_["mean_test_score"],
        search.cv_results_["mean_test_score"],
        rtol=1e-10,
    )
    assert cv.best_score_ == pytest.approx(search.best_score_, rel=1e-10)
    assert cv.best_score_ > 0.99


# -- sizes: refused before any work -----------------------------------------------


def _no_moments(monkeypatch):
    def summed(*args, **kwargs):
        raise AssertionError("moments were summed")

    monkeypatch.setattr(_regressor_cv.MomentAccumulator, "update", summed)


def test_degrees_that_cannot_fit_are_refused_at_once(monkeypatch):
    monkeypatch.setattr(_sizes, "available_memory", lambda device: 8 * 2**30)
    _no_moments(monkeypatch)
    rng = np.random.default_rng(0)
    X, y = rng.uniform(size=(600, 4)), rng.uniform(size=600)
    start = time.perf_counter()
    with pytest.raises(MemoryError) as error:
        AttentionPolynomialRegressorCV(degrees=(2, 30)).fit(X, y)
    assert time.perf_counter() - start < 5  # a behaviour, not a speed, test
    assert str(error.value) == (
        "degree=30 with 4 features needs 46375 power features (C(d + q, q) - 1) "
        "and, with max(degrees)=30, 635376 moments per fold (C(d + 2 "
        "max(degrees), 2 max(degrees))): about 49.3 GiB to cross-validate over 5 "
        "folds and refit, but 8 GiB are available. Use smaller degrees, or fewer "
        "features."
    )


def test_a_size_that_fits_still_fits(monkeypatch):
    X, y = _data(seed=7)
    degrees = [1, 2, 3]
    needed = max(cv_bytes(3, q, degrees, 1, 240, 60, 5) for q in degrees)
    params = {"degrees": degrees, "alphas": ALPHAS}
    monkeypatch.setattr(_sizes, "available_memory", lambda device: needed)
    assert AttentionPolynomialRegressorCV(**params).fit(X, y).degree_ == 3
    monkeypatch.setattr(_sizes, "available_memory", lambda device: needed - 1)
    _no_moments(monkeypatch)
    with pytest.raises(MemoryError, match="degree=3 with 3 features needs 19 power"):
        AttentionPolynomialRegressorCV(**params).fit(X, y)


# -- the row form: fewer training rows than monomials ------------------------------


def test_the_row_form_gives_grid_search_scores(monkeypatch):
    # 40 rows, 32 to train a fold: degrees 4 and 5 have 34 and 55 monomials
    X, y = _data(n_samples=40, seed=8)
    scored = []
    row_scores = _fold_scores.row_scores

    def spy(*args):
        scored.append(args[6])  # the degrees scored from the rows
        return row_scores(*args)

    monkeypatch.setattr(_fold_scores, "row_scores", spy)
    ours = AttentionPolynomialRegressorCV(
        degrees=(1, 2, 3, 4, 5), alphas=ALPHAS, cv=KFold(5)
    ).fit(X, y)
    pipe = Pipeline(
        [
            ("scale", StandardScaler()),
            ("poly", PolynomialFeatures(include_bias=False)),
            ("standardise", StandardScaler()),
            ("ridge", Ridge()),
        ]
    )
    grid = {"poly__degree": [1, 2, 3, 4, 5], "ridge__alpha": list(ALPHAS)}
    theirs = GridSearchCV(pipe, grid, cv=KFold(5)).fit(X, y)
    got = _by_candidate(ours.cv_results_, "degree", "alpha")
    expected = _by_candidate(theirs.cv_results_, "poly__degree", "ridge__alpha")
    np.testing.assert_allclose(
        [got[k] for k in expected], list(expected.values()), rtol=1e-8
    )
    assert scored == [[4, 5]] * 5  # every fold, the degrees beyond its rows


@pytest.mark.parametrize("scoring", [None, "neg_mean_squared_error"])
def test_the_row_form_equals_the_moments(scoring, monkeypatch):
    # a problem both forms can score: each is forced on every degree
    rng = np.random.default_rng(9)
    X = rng.normal(size=(150, 3)) * [1.0, 2.0, 0.5] + 1.0
    Y = np.column_stack([X[:, 0] ** 3 - X[:, 1] * X[:, 2], np.sin(X[:, 1])])
    Y += 0.3 * rng.normal(size=Y.shape)
    w = rng.uniform(0.2, 3.0, size=150)
    w[::17] = 0.0
    results = []
    for rows in (False, True):
        monkeypatch.setattr(_fold_scores, "uses_rows", lambda n, p, rows=rows: rows)
        est = AttentionPolynomialRegressorCV(
            degrees=(1, 2, 3, 4, 5),
            alphas=(0.0, 1e-6, 1e-3, 0.1, 10.0, 1e3),
            cv=KFold(4, shuffle=True, random_state=0),
            scoring=scoring,
        )
        results.append(est.fit(X, Y, sample_weight=w))
    moments, rows = results
    for k in range(4):
        np.testing.assert_allclose(
            rows.cv_results_[f"split{k}_test_score"],
            moments.cv_results_[f"split{k}_test_score"],
            rtol=1e-8,
        )
    assert (rows.degree_, rows.alpha_) == (moments.degree_, moments.alpha_)


@pytest.mark.slow
def test_more_monomials_than_rows_choose_the_degree_grid_search_chooses():
    # issue 22's case: 800 training rows a fold, degrees 5-7 have 1286, 3002
    # and 6434 monomials in 8 features; a smooth function, not a polynomial
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline

    rng = np.random.default_rng(10)
    X = rng.uniform(-1.0, 1.0, size=(1000, 8))
    y = np.exp(0.5 * X[:, 0]) * np.sin(2 * X[:, 1]) + X[:, 2] * X[:, 3] ** 2
    y += np.log1p(X[:, 4:] ** 2).sum(axis=1) + 0.01 * rng.normal(size=1000)
    alphas = np.logspace(-6, 6, 13)
    ours = AttentionPolynomialRegressorCV(
        degrees=range(1, 8), alphas=alphas, cv=KFold(5)
    ).fit(X, y)
    pipe = make_pipeline(
        StandardScaler(), PolynomialFeatures(), StandardScaler(), RidgeCV(alphas)
    )
    theirs = GridSearchCV(
        pipe, {"polynomialfeatures__degree": range(1, 8)}, cv=KFold(5)
    ).fit(X, y)
    assert ours.degree_ == theirs.best_params_["polynomialfeatures__degree"]
    assert ours.best_score_ == pytest.approx(theirs.best_score_, abs=1e-3)
