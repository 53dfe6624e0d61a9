"""The varpro solver's choices: its threads, its ridge by leave-one-out and
its size by validation."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import RidgeCV

from sklearn_attnpoly import _chunks
from sklearn_attnpoly._solvers._loo_ridge import ridge_loo
from sklearn_attnpoly._solvers._varpro import (
    ALPHAS,
    ReducedLoss,
    fit_varpro,
    max_directions,
)
from sklearn_attnpoly._threads import one_pool, workers
from sklearn_attnpoly.attention import AttentionPolynomialNetwork


def _unit(F):
    return F / np.linalg.norm(F, axis=1, keepdims=True)


def _loss(n_samples=400, d=4, n=3, q=3, n_outputs=1, seed=0, weights=True):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-0.5, 0.5, size=(n_samples, d))
    Y = np.column_stack(
        [np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2], X[:, -1] ** 2][:n_outputs]
    ) + 0.05 * rng.standard_normal((n_samples, n_outputs))
    w = rng.uniform(0.5, 2.0, size=n_samples) if weights else np.ones(n_samples)
    F = _unit(rng.standard_normal((n, d)))
    module = AttentionPolynomialNetwork(
        torch.as_tensor(F), q, radius=1.0, n_outputs=n_outputs
    )
    return ReducedLoss(module, X, Y, w, 1e-6), F


def test_one_pool_sets_the_threads_and_gives_them_back():
    before = torch.get_num_threads()
    with one_pool(2) as n:
        assert n == workers() == 2
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    assert workers() == 1


def test_the_numbers_do_not_depend_on_threads_or_chunks(monkeypatch):
    loss, F = _loss(n_samples=500, n_outputs=2)
    whole = loss.evaluate(F)
    # about 40 rows a chunk: many chunks, merged pairwise
    monkeypatch.setattr(_chunks, "CACHE_CHUNK_BYTES", 10_000)
    assert len(loss._chunks(len(F))) > 8
    outputs = {}
    for n_threads in (1, 2):
        with one_pool(n_threads):
            outputs[n_threads] = loss.evaluate(F)
    for a, b, c in zip(outputs[1], outputs[2], whole, strict=True):
        np.testing.assert_array_equal(a, b)  # the same bits at any threads
        np.testing.assert_allclose(a, c, rtol=1e-12, atol=1e-14)


def test_a_fit_is_the_same_at_one_and_two_threads():
    loss, _ = _loss(n_samples=300, d=3)
    runs = [
        fit_varpro(
            loss,
            2,
            max_iter=15,
            tol=0.0,
            rng=np.random.RandomState(0),
            alphas=ALPHAS,
            n_threads=n_threads,
        )  # fmt: skip
        for n_threads in (1, 2)
    ]
    for a, b in zip(runs[0], runs[1], strict=True):
        np.testing.assert_array_equal(a, b)


def test_ridge_loo_is_ridgecv():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((120, 6)) * [1.0, 10.0, 0.1, 1.0, 3.0, 1.0] + 2.0
    Y = X @ rng.standard_normal((6, 2)) + rng.standard_normal((120, 2))
    w = rng.uniform(0.2, 3.0, size=120)
    grid = np.logspace(-4, 4, 17)
    for y, weights in ((Y[:, 0], None), (Y, w)):
        fit = ridge_loo(X, y, np.ones(120) if weights is None else w, grid)
        ref = RidgeCV(alphas=grid).fit(X, y, sample_weight=weights)
        assert fit.alpha_ == ref.alpha_
        assert 0 < np.argmin(fit.loo_mse) < len(grid) - 1  # an inner choice
        assert -fit.loo_mse.min() == pytest.approx(ref.best_score_, rel=1e-10)
        np.testing.assert_allclose(fit.coef.T.reshape(np.shape(ref.coef_)),
                                   ref.coef_, rtol=1e-8, atol=1e-10)  # fmt: skip
        np.testing.assert_allclose(fit.intercept.reshape(np.shape(ref.intercept_)),
                                   ref.intercept_, rtol=1e-8, atol=1e-10)  # fmt: skip


@pytest.mark.parametrize("n_outputs", [1, 2])
def test_the_chosen_ridge_is_ridgecv_on_the_standardised_slots(n_outputs):
    loss, F = _loss(n_samples=300, n_outputs=n_outputs, seed=1)
    grid = np.logspace(-8, 2, 11)
    chosen, fit = loss.choose_alpha(F, grid)
    # the slot features as the module writes them, direction-major, and
    # standardised under the weights (summing to 1)
    with torch.no_grad():
        S = loss.module.slots(torch.as_tensor(loss.X)).reshape(len(loss.X), -1)
    S = S.numpy()
    w = loss.w
    mean = w @ S
    spread = np.sqrt(w @ (S - mean) ** 2)
    Z = (S - mean) / spread
    ref = RidgeCV(alphas=grid, fit_intercept=True).fit(
        Z, loss.Y if n_outputs > 1 else loss.Y[:, 0], sample_weight=w
    )
    assert fit.alpha_ == ref.alpha_ == chosen.alpha
    assert ref.alpha_ not in (grid[0], grid[-1])
    coef = (fit.coef.reshape(len(S.T), n_outputs) * spread[:, None]).T
    np.testing.assert_allclose(coef.reshape(np.shape(ref.coef_)), ref.coef_,
                               rtol=1e-8, atol=1e-10)  # fmt: skip
    # the same readout in the module's units: the same predictions
    prediction = loss.with_directions(len(F)).predict(F, fit.coef, fit.intercept)
    np.testing.assert_allclose(
        prediction.reshape(-1), ref.predict(Z).reshape(-1), rtol=1e-9, atol=1e-12
    )
    # weights scaled by k: the grid divided by k, the same choice
    ref_raw = RidgeCV(alphas=grid * 7.0).fit(
        Z, loss.Y[:, 0] if n_outputs == 1 else loss.Y, sample_weight=7.0 * w
    )
    assert ref_raw.alpha_ == 7.0 * fit.alpha_
    # at the chosen alpha, evaluate gives the same readout
    _, _, beta, b = chosen.evaluate(F, gradient=False)
    np.testing.assert_allclose(beta, fit.coef, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b, fit.intercept, rtol=1e-10, atol=1e-12)


def _planted_cubic(n_samples, d=8, noise=0.1, seed=0):
    """A sum of three cubic ridge functions of random unit directions."""
    rng = np.random.default_rng(seed)
    xi = _unit(rng.standard_normal((3, d)))
    X = rng.uniform(-1, 1, size=(n_samples, d))
    T = X @ xi.T
    y = T[:, 0] ** 3 - T[:, 0] + 2 * T[:, 1] ** 2 + T[:, 2] ** 3 + T[:, 2] ** 2
    return X, y + noise * rng.standard_normal(n_samples)


def _planted_loss(n_samples, seed=0):
    X, y = _planted_cubic(n_samples, seed=seed)
    Xs = X / np.linalg.norm(X, axis=1).max()
    module = AttentionPolynomialNetwork(torch.zeros(1, X.shape[1]), 3, radius=1.0)
    return ReducedLoss(module, Xs, (y - y.mean())[:, None], np.ones(len(X)), 1e-8)


def test_validation_chooses_the_planted_size():
    loss = _planted_loss(1000)
    result = fit_varpro(
        loss, None, max_iter=100, tol=1e-5, rng=np.random.RandomState(0),
        alphas=ALPHAS,
    )  # fmt: skip
    scores = result.validation_score_
    assert result.n_directions_ in (2, 3, 4)
    assert result.step_sizes[: len(scores)] == [1, 2, 3, 4, 5][: len(scores)]
    best = int(np.argmax(scores))
    assert result.n_directions_ == result.step_sizes[best] == len(result.F)
    # stopped by n_iter_no_change=2: the last two steps did not beat the one
    # before them by validation_tol
    assert len(scores) == best + 3
    assert scores[best] > 0.95
    assert result.alpha_ in ALPHAS


@pytest.mark.slow
def test_validation_chooses_the_planted_size_on_2000_rows():
    loss = _planted_loss(2000, seed=1)
    result = fit_varpro(
        loss, None, max_iter=200, tol=1e-5, rng=np.random.RandomState(1),
        alphas=ALPHAS,
    )  # fmt: skip
    assert result.n_directions_ in (2, 3, 4)
    assert (
        result.n_directions_ == result.step_sizes[np.argmax(result.validation_score_)]
    )


def test_validation_arguments_are_checked():
    loss = _planted_loss(50)
    kwargs = dict(max_iter=5, tol=1e-5, rng=np.random.RandomState(0))
    for fraction in (0.0, 1.0):
        with pytest.raises(ValueError, match=f"validation_fraction={fraction} must"):
            fit_varpro(loss, None, validation_fraction=fraction, **kwargs)
    same = loss.subset(np.zeros(50, dtype=int))  # the first row, 50 times
    with pytest.raises(
        ValueError,
        match=r"^n_samples=50: solver='varpro' with n_directions=None holds out "
        r"rows to choose its number of directions, and these rows are all the "
        r"same row; pass n_directions, or more distinct rows\.$",
    ):
        fit_varpro(same, None, **kwargs)
    with pytest.raises(ValueError, match="scoring='accuracy' is not one of"):
        fit_varpro(loss, None, scoring="accuracy", **kwargs)


def test_the_cap_keeps_the_parameters_within_half_the_rows():
    assert max_directions(331, 10, 3) == 12  # 12 * 13 + 1 = 157 <= 165
    assert max_directions(20, 10, 3) == 1
    assert max_directions(10**7, 10, 5) == 128


def test_the_stopping_rule_is_relative_for_errors_and_absolute_for_scorers():
    from sklearn_attnpoly._solvers._varpro import _stalled

    # R^2 0.99 -> 0.9905: the error falls by 5 %, more than tol = 1 %
    assert not _stalled([0.99, 0.9905, 0.98], 2, 1e-2, "r2")
    assert _stalled([0.99, 0.9901, 0.98], 2, 1e-2, "r2")  # 1 % exactly: no
    # at 1e-7 of error, a fall to 5e-8 still counts; for MSE as well
    assert not _stalled([1 - 1e-7, 1 - 5e-8, 1 - 2e-7], 2, 1e-2, "r2")
    assert _stalled([-1e-7, -0.995e-7, -2e-7], 2, 1e-2, "neg_mean_squared_error")
    # a callable scorer: scikit-learn's absolute tol
    assert _stalled([0.5, 0.505, 0.4], 2, 1e-2, lambda *a, **k: 0.0)
    assert not _stalled([0.5, 0.52, 0.4], 2, 1e-2, lambda *a, **k: 0.0)
    assert not _stalled([0.5, 0.4], 2, 1e-2, "r2")  # too few steps yet


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="no fork")
def test_a_forked_child_gets_its_own_threads():
    import os

    from sklearn_attnpoly._threads import parallel_map

    with one_pool(2):
        parallel_map(abs, [-1, -2])  # the parent's executor exists
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        with one_pool(2):
            os.write(write, bytes(parallel_map(abs, [-3, -4])))
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 2) == bytes([3, 4])


def test_repeated_rows_and_weights_are_held_out_alike():
    from sklearn_attnpoly._solvers._varpro import _held_out_rows

    rng = np.random.default_rng(0)
    X, Y = rng.uniform(-1, 1, (400, 5)), rng.standard_normal((400, 1))
    held = _held_out_rows(X, Y, 0.1, np.random.RandomState(0))
    assert 20 < held.sum() < 80  # about a tenth (40 +- 6)
    counts = rng.integers(0, 4, size=400)
    repeated = _held_out_rows(
        np.repeat(X, counts, axis=0), np.repeat(Y, counts, axis=0), 0.1,
        np.random.RandomState(0),
    )  # fmt: skip
    np.testing.assert_array_equal(repeated, np.repeat(held, counts))
    # too few rows for a tenth: the rows of least frac, never none
    assert _held_out_rows(X[:3], Y[:3], 0.1, np.random.RandomState(0)).sum() == 1


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_auto_size_treats_weights_as_repeated_rows():
    """The split, the growth and the score see a weight as repeated rows.
    (Leave-one-out does not: leaving one copy of a repeated row out is not
    leaving its weight out, so the ridge is fixed here.)"""
    X, y = _planted_cubic(300, d=4, seed=2)
    counts = np.random.default_rng(3).integers(1, 4, size=len(X))
    module = AttentionPolynomialNetwork(torch.zeros(1, 4), 3, radius=4.0)
    runs = [
        fit_varpro(
            ReducedLoss(module, X_, y_[:, None], w, 1e-6),
            None,
            max_iter=10,
            tol=1e-5,
            rng=np.random.RandomState(0),
        )  # fmt: skip
        for X_, y_, w in (
            (X, y, counts),
            (np.repeat(X, counts, axis=0), np.repeat(y, counts), np.ones(counts.sum())),
        )
    ]
    assert runs[0].step_sizes == runs[1].step_sizes
    np.testing.assert_allclose(
        runs[0].validation_score_, runs[1].validation_score_, rtol=1e-6
    )  # the sums are rounded in another order: L-BFGS paths differ a little
    # the same rows up to sign (an eigenvector's sign is arbitrary)
    F0, F1 = (run.F * np.sign(run.F[:, :1]) for run in runs)
    np.testing.assert_allclose(F0, F1, rtol=1e-5, atol=1e-6)


def test_a_refit_stops_when_both_the_held_out_score_and_the_loss_stall():
    from sklearn_attnpoly._solvers._varpro import _held_out_monitor

    loss = _planted_loss(400)
    train = loss.subset(np.arange(300)).with_directions(3)
    held_out = loss.subset(np.arange(300, 400))
    F = _unit(np.random.default_rng(0).standard_normal((3, 8)))
    _, _, beta, b = train.evaluate(F, gradient=False)

    def looks(losses, scores):
        """The monitor's answers to looks of these training losses and
        held-out scores (a scorer: absolute tol 1e-3)."""
        J, S = iter(losses), iter(scores)
        train.evaluate = lambda F, gradient=False: (next(J), None, beta, b)
        stop = _held_out_monitor(train, held_out, lambda *a, **k: next(S))
        return [stop(F) for _ in losses]

    # 10 iterations between a look and the one two before: slow is a fall of
    # at most 1 % of the loss
    assert looks([1.0, 0.9, 0.85, 0.847, 0.845], [0.5] * 5) == [
        False, False, False, False, True,  # 15 %, 6.3 %, then 0.6 % and flat
    ]  # fmt: skip
    assert looks([1.0, 0.9, 0.85, 0.847, 0.84], [0.5] * 5) == [False] * 5  # 1.2 %
    # the same losses, the score still rising: it goes on
    assert looks([1.0, 0.9, 0.85, 0.847, 0.845], [0.5] * 4 + [0.502]) == [False] * 5
    # a flat score, the loss falling fast: it goes on
    assert looks([1.0, 0.9, 0.8, 0.7, 0.6], [0.5] * 5) == [False] * 5
    del train.evaluate


def test_minimise_stops_at_the_look_the_monitor_stops(monkeypatch):
    from sklearn_attnpoly._solvers import _varpro
    from sklearn_attnpoly._solvers._varpro import (
        REFIT_LOOK,
        _held_out_monitor,
        minimise,
    )

    loss = _planted_loss(400)
    train = loss.subset(np.arange(300)).with_directions(6)
    held_out = loss.subset(np.arange(300, 400))
    F0 = _unit(np.random.default_rng(0).standard_normal((6, 8)))
    monkeypatch.setattr(_varpro, "REFIT_LOSS_TOL", np.inf)  # the score decides
    scripted = iter([0.1, 0.5, 0.9, 0.9004, 0.9006, 0.99])

    def scoring(y_true, y_pred, sample_weight):
        assert y_true.shape == y_pred.shape == (100, 1)
        return next(scripted)

    monitor = _held_out_monitor(train, held_out, scoring)
    _, losses, converged = minimise(train, F0, max_iter=100, tol=0.0, monitor=monitor)
    assert len(losses) - 1 == 5 * REFIT_LOOK and converged and monitor.fired
    monitor = _held_out_monitor(train, held_out, lambda *a, **k: 0.5)
    monkeypatch.setattr(_varpro, "REFIT_LOSS_TOL", -np.inf)  # never slow
    _, losses, converged = minimise(train, F0, max_iter=100, tol=-1.0, monitor=monitor)
    assert len(losses) - 1 == 100 and not converged and not monitor.fired


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_the_held_out_rule_ends_refits_that_no_longer_pay(monkeypatch):
    loss = _planted_loss(600)
    kwargs = dict(max_iter=100, tol=1e-7, alphas=ALPHAS)
    ruled = fit_varpro(loss, None, rng=np.random.RandomState(0), **kwargs)
    monkeypatch.setattr(
        "sklearn_attnpoly._solvers._varpro.REFIT_VALIDATION_TOL", -np.inf
    )  # every look counts as better: only tol and the caps stop a refit
    unruled = fit_varpro(loss, None, rng=np.random.RandomState(0), **kwargs)
    assert ruled.n_iter < 0.7 * unruled.n_iter
    assert ruled.converged
    assert ruled.validation_score_.max() > 0.97
    assert ruled.validation_score_.max() > unruled.validation_score_.max() - 0.005


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_the_final_refit_keeps_tol_after_a_growth_on_a_subsample(monkeypatch):
    from sklearn_attnpoly._solvers import _varpro

    calls = []
    minimise = _varpro.minimise

    def recorded(loss, F0, **kwargs):
        result = minimise(loss, F0, **kwargs)
        calls.append((len(loss.X), kwargs["tol"], kwargs.get("monitor")))
        return result

    monkeypatch.setattr(_varpro, "minimise", recorded)
    loss = _planted_loss(600)
    kwargs = dict(max_iter=60, tol=1e-7, alphas=ALPHAS)

    def final_tol():
        result = fit_varpro(loss, None, rng=np.random.RandomState(0), **kwargs)
        rows, tol, monitor = calls[-1]
        assert rows == 600 and monitor is None  # on all rows, held-out ones too
        return result, tol

    # grown on every training row: a kept step the held-out rows ended is
    # refined at REFIT_LOSS_TOL's pace
    result, tol = final_tol()
    kept = int(np.argmax(result.validation_score_))
    grown = [c for c in calls[:-1] if c[2] is not None]
    assert all(c[0] < 600 for c in grown)
    assert tol == (_varpro.REFIT_LOSS_TOL if grown[kept][2].fired else 1e-7)
    assert grown[kept][2].fired  # this planted case reaches its noise
    # grown on a subsample: refined at tol
    calls.clear()
    monkeypatch.setattr(_varpro, "MIN_SUBSAMPLE", 100)
    monkeypatch.setattr(_varpro, "ROWS_PER_PARAMETER", 1)
    result, tol = final_tol()
    assert result.n_rows_grown < 540 and tol == 1e-7
