"""partial_fit and Dask arrays: the moments summed in pieces give the model fit
gives on all the rows at once."""

import pickle

import numpy as np
import pytest

from sklearn_attnpoly import AttentionPolynomialRegressor


def _data(n_samples=1200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 3)) * [1.0, 3.0, 0.2] + [2.0, -1.0, 5.0]
    y = X[:, 0] ** 3 - X[:, 1] * X[:, 2] + rng.normal(size=n_samples)
    w = rng.uniform(0.0, 2.0, size=n_samples)
    X_test = rng.normal(size=(200, 3)) * [1.0, 3.0, 0.2] + [2.0, -1.0, 5.0]
    return X, y, w, X_test


def _same_model(a, b, X_test, rtol=1e-9):
    expected = b.predict(X_test)
    np.testing.assert_allclose(
        a.predict(X_test), expected, rtol=0, atol=rtol * abs(expected).max()
    )


def test_partial_fit_over_batches_equals_fit():
    X, y, w, X_test = _data()
    whole = AttentionPolynomialRegressor(degree=3, alpha=1e-4).fit(X, y, w)
    pieces = AttentionPolynomialRegressor(degree=3, alpha=1e-4)
    for rows in np.array_split(np.arange(len(X)), 7):
        pieces.partial_fit(X[rows], y[rows], sample_weight=w[rows])
    assert pieces.moments_.n_samples == int((w > 0).sum())
    _same_model(pieces, whole, X_test)
    got, expected = pieces.to_polynomial(), whole.to_polynomial()
    np.testing.assert_allclose(
        [got[k] for k in expected], list(expected.values()), rtol=1e-8, atol=1e-9
    )


def test_one_partial_fit_is_fit():
    X, y, w, X_test = _data(seed=1)
    once = AttentionPolynomialRegressor(degree=2).partial_fit(X, y, sample_weight=w)
    whole = AttentionPolynomialRegressor(degree=2).fit(X, y, sample_weight=w)
    np.testing.assert_allclose(once.scaling_.shift, whole.scaling_.shift, rtol=1e-13)
    np.testing.assert_allclose(once.scaling_.scale, whole.scaling_.scale, rtol=1e-13)
    _same_model(once, whole, X_test, rtol=1e-11)


def test_later_batches_far_outside_the_first_are_summed_exactly():
    X, y, _, _ = _data(seed=2)
    far = X * 10.0
    y_far = far[:, 0] ** 3 - far[:, 1] * far[:, 2]
    pieces = AttentionPolynomialRegressor(degree=3)
    pieces.partial_fit(X[:300], y[:300]).partial_fit(far, y_far)
    whole = AttentionPolynomialRegressor(degree=3).fit(
        np.vstack([X[:300], far]), np.concatenate([y[:300], y_far])
    )
    _same_model(pieces, whole, far, rtol=1e-8)
    # the blocks hold every training row: none is out of bound
    assert np.linalg.norm(
        pieces.scaling_.transform(far), axis=1
    ).max() <= pieces.bound * (1 + 1e-12)


def test_each_call_solves_for_the_rows_so_far():
    X, y, _, X_test = _data(seed=3)
    est = AttentionPolynomialRegressor(degree=2).partial_fit(X[:600], y[:600])
    first = est.predict(X_test)
    _same_model(
        est, AttentionPolynomialRegressor(degree=2).fit(X[:600], y[:600]), X_test
    )
    est.partial_fit(X[600:], y[600:])
    _same_model(est, AttentionPolynomialRegressor(degree=2).fit(X, y), X_test)
    assert not np.allclose(first, est.predict(X_test))
    assert not hasattr(AttentionPolynomialRegressor, "__getattr__")


def test_a_summed_model_pickles_and_predicts():
    X, y, _, X_test = _data(seed=4)
    est = AttentionPolynomialRegressor(degree=2).partial_fit(X, y)
    copy = pickle.loads(pickle.dumps(est))
    np.testing.assert_allclose(copy.predict(X_test), est.predict(X_test))


def test_partial_fit_after_fit_starts_a_new_sum():
    X, y, _, X_test = _data(seed=5)
    est = AttentionPolynomialRegressor(degree=2).fit(X[:500], y[:500])
    est.partial_fit(X[500:], y[500:])
    _same_model(
        est, AttentionPolynomialRegressor(degree=2).fit(X[500:], y[500:]), X_test
    )
    est.fit(X[:500], y[:500])  # fit drops the sum
    assert "moments_" not in est.__dict__


@pytest.mark.parametrize(
    "change, message",
    [
        ({"X": lambda X: X[:, :2]}, "X has 2 features"),
        ({"y": lambda y: np.column_stack([y, y])}, "the moments summed so far have 1"),
    ],
)
def test_later_batches_must_match_the_first(change, message):
    X, y, _, _ = _data(seed=6)
    est = AttentionPolynomialRegressor(degree=2).partial_fit(X, y)
    X2 = change.get("X", lambda X: X)(X)
    y2 = change.get("y", lambda y: y)(y)
    with pytest.raises(ValueError, match=message):
        est.partial_fit(X2, y2)


def test_partial_fit_refuses_gradient_solvers_and_weightless_batches():
    X, y, w, _ = _data(seed=7)
    # as scikit-learn's MLPRegressor: the method is absent, the reason chained
    with pytest.raises(AttributeError, match="has no attribute 'partial_fit'") as e:
        AttentionPolynomialRegressor(solver="sgd").partial_fit(X, y)
    assert "partial_fit needs solver='lstsq'" in str(e.value.__cause__)
    assert not hasattr(AttentionPolynomialRegressor(solver="adam"), "partial_fit")
    with pytest.raises(ValueError, match="at least one non-zero number"):
        AttentionPolynomialRegressor().partial_fit(X, y, sample_weight=0 * w)


# -- Dask ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def test_dask_fit_equals_the_numpy_fit(dask_client):
    da = pytest.importorskip("dask.array")
    X, y, w, X_test = _data(seed=8)
    Y = np.column_stack([y, X[:, 1] ** 2])
    whole = AttentionPolynomialRegressor(degree=3, alpha=1e-3).fit(X, Y, w)
    chunked = AttentionPolynomialRegressor(degree=3, alpha=1e-3).fit(
        da.from_array(X, chunks=(250, 2)),
        da.from_array(Y, chunks=(100, 2)),
        sample_weight=da.from_array(w, chunks=300),
    )
    assert chunked.n_features_in_ == 3 and chunked.n_outputs_ == 2
    np.testing.assert_allclose(chunked.scaling_.scale, whole.scaling_.scale, rtol=1e-12)
    _same_model(chunked, whole, X_test, rtol=1e-10)


def test_dask_fit_checks_its_chunks(dask_client):
    da = pytest.importorskip("dask.array")
    X, y, _, _ = _data(seed=9)
    X[700, 1] = np.nan
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        AttentionPolynomialRegressor().fit(da.from_array(X, chunks=200), y)
    with pytest.raises(ValueError, match="needs solver='lstsq'"):
        AttentionPolynomialRegressor(solver="adam").fit(da.from_array(X), y)


def test_a_failed_solve_adds_nothing(monkeypatch):
    X, y, _, X_test = _data(seed=10)
    est = AttentionPolynomialRegressor(degree=2).partial_fit(X[:500], y[:500])
    before = dict(vars(est))

    def fail(*args, **kwargs):
        raise MemoryError("no room for the system")

    monkeypatch.setattr(
        "sklearn_attnpoly._solvers._dispatch.readout_from_moments", fail
    )
    with pytest.raises(MemoryError, match="no room"):
        est.partial_fit(X[500:], y[500:])
    assert vars(est).keys() == before.keys()
    assert all(vars(est)[key] is before[key] for key in before)
    monkeypatch.undo()
    est.partial_fit(X[500:], y[500:])  # the batch, added once
    expected = AttentionPolynomialRegressor(degree=2).fit(X, y).predict(X_test)
    np.testing.assert_allclose(est.predict(X_test), expected, rtol=1e-9, atol=1e-9)
