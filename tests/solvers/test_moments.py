"""The readout from the data's moments: the moments themselves, their
translation and accumulation, and the ridge they give, against explicit
features, the network's own slots and scikit-learn's pipelines."""

import math
import threading

import numpy as np
import pytest
import torch
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler
from threadpoolctl import threadpool_limits

from sklearn_attnpoly import AttentionPolynomialRegressor
from sklearn_attnpoly._polynomial import monomial_exponents, monomials
from sklearn_attnpoly._solvers import _moments
from sklearn_attnpoly._solvers._accumulator import MomentAccumulator
from sklearn_attnpoly._solvers._moments import (
    accumulate,
    graded_exponents,
    moment_layout,
    n_moments,
    translate,
    values,
)
from sklearn_attnpoly._solvers._readout import choose_method, solve_readout
from sklearn_attnpoly.attention import slot_signs
from sklearn_attnpoly.attention._directions import (
    lattice_directions,
    ridge_power_matrix,
    select_power_slots,
)


def _stored_exponents(layout):
    return layout.exponents.astype(np.int64)


@pytest.mark.parametrize(
    "n_features, max_degree", [(1, 1), (1, 6), (2, 4), (3, 6), (5, 4), (7, 2)]
)
@pytest.mark.parametrize("unit_weights", [False, True])
def test_moments_equal_the_sums_of_monomials(n_features, max_degree, unit_weights):
    rng = np.random.default_rng(n_features * 10 + max_degree)
    X = rng.normal(size=(257, n_features))
    w = np.ones(257) if unit_weights else rng.uniform(0.5, 2.0, size=257)
    Y = rng.normal(size=(257, 2))
    layout = moment_layout(n_features, max_degree)
    cross_layout = moment_layout(n_features, max_degree // 2)
    mu = np.zeros(layout.n_moments)
    nu = np.zeros((2, cross_layout.n_moments))
    accumulate(
        layout, mu, X, None if unit_weights else w, cross=(cross_layout, nu), targets=Y
    )
    assert layout.n_moments == math.comb(n_features + max_degree, max_degree)
    exponents = _stored_exponents(layout)
    expected = w @ monomials(X, exponents)
    np.testing.assert_allclose(
        mu, expected, rtol=1e-12, atol=1e-12 * abs(expected).max()
    )
    low = _stored_exponents(cross_layout)
    expected = (w[:, None] * Y).T @ monomials(X, low)
    np.testing.assert_allclose(
        nu, expected, rtol=1e-12, atol=1e-12 * abs(expected).max()
    )


def test_moments_in_many_chunks_give_the_same_sums(monkeypatch):
    rng = np.random.default_rng(1)
    X, w = rng.normal(size=(500, 4)), rng.uniform(size=500)
    layout = moment_layout(4, 4)
    whole = np.zeros(layout.n_moments)
    accumulate(layout, whole, X, w)
    monkeypatch.setattr("sklearn_attnpoly._chunks.MOMENT_CHUNK_BYTES", 8 * 7 * 70)
    chunked = np.zeros(layout.n_moments)
    accumulate(layout, chunked, X, w)
    np.testing.assert_allclose(chunked, whole, rtol=1e-13)


@pytest.mark.parametrize("workers", [2, 3])
@pytest.mark.parametrize("unit_weights", [False, True])
def test_moments_summed_by_threads_equal_one_thread(workers, unit_weights):
    rng = np.random.default_rng(2)
    X, Y = rng.normal(size=(2000, 5)), rng.normal(size=(2000, 2))
    w = None if unit_weights else rng.uniform(0.5, 2.0, size=2000)
    layout, cross_layout = moment_layout(5, 8), moment_layout(5, 4)
    sums = {}
    for threads in (1, workers):
        mu = np.full(layout.n_moments, 1.0)  # added to, not overwritten
        nu = np.full((2, cross_layout.n_moments), 1.0)
        with threadpool_limits(threads, user_api="blas"):
            # chunks of 37 rows: every thread sums several
            assert _moments.n_workers(2000, 37, mu.nbytes + nu.nbytes) == threads
            _moments._accumulate_threads(
                layout, mu, X, w, (cross_layout, nu), Y, chunk=37, workers=threads
            )
        sums[threads] = mu, nu
    for serial, threaded in zip(sums[1], sums[workers], strict=True):
        assert not np.array_equal(serial, threaded)  # summed in another order
        np.testing.assert_allclose(threaded, serial, rtol=1e-12, atol=1e-12)


def test_threads_are_those_the_blas_may_use_and_the_memory_allows():
    with threadpool_limits(1, user_api="blas"):
        assert _moments.n_workers(10**6, 100, 8) == 1
    with threadpool_limits(4, user_api="blas"):
        assert _moments.n_workers(10**6, 100, 8) == 4
        assert _moments.n_workers(250, 100, 8) == 3  # a thread per chunk
        assert _moments.n_workers(10**6, 100, _moments.MAX_PARTIAL_BYTES) == 2


@pytest.mark.parametrize(
    "d, q, count", [(1, 3, 7), (2, 2, 15), (3, 3, 84), (10, 2, 1001), (10, 5, 184756)]
)
def test_n_moments_counts_the_monomials_of_degree_2q(d, q, count):
    # against the enumeration of the exponents, not the formula
    assert n_moments(d, q) == len(monomial_exponents(d, 2 * q)) == count


@pytest.mark.parametrize("n_features, max_degree", [(1, 5), (3, 4), (6, 4)])
def test_translated_moments_are_the_moments_of_the_shifted_rows(n_features, max_degree):
    rng = np.random.default_rng(2)
    X, w = rng.normal(size=(300, n_features)), rng.uniform(0.5, 2.0, size=300)
    shift = rng.normal(size=n_features)
    layout = moment_layout(n_features, max_degree)
    mu = np.zeros(layout.n_moments)
    accumulate(layout, mu, X, w)
    moved = np.zeros(layout.n_moments)
    accumulate(layout, moved, X - shift, w)
    np.testing.assert_allclose(
        translate(layout, mu, shift), moved, rtol=1e-11, atol=1e-11 * abs(moved).max()
    )


def test_many_variables_use_codes_beyond_int64():
    # (2 * 2 + 1)^28 > 2^63: the half of 56 variables needs Python integers
    rng = np.random.default_rng(4)
    X = rng.normal(size=(40, 56))
    layout = moment_layout(56, 4)
    mu = np.zeros(layout.n_moments)
    accumulate(layout, mu, X, None)
    g = np.zeros((2, 56), dtype=np.int64)
    g[0, [0, 55]] = 2
    g[1, [3, 30, 40, 50]] = 1
    np.testing.assert_allclose(values(layout, mu, g), monomials(X, g).sum(axis=0))


def _accumulator(X, Y, w, degree):
    out = MomentAccumulator(X.shape[1], degree, Y.shape[1])
    return out.update(X, Y, w)


def _explicit_equations(X, Y, w, degree):
    """The centred normal equations of the monomials of ``X`` about its
    weighted mean (the accumulators' origin), from explicit features."""
    X = X - w @ X / w.sum()
    M = monomials(X, graded_exponents(X.shape[1], degree))
    W = w.sum()
    Mc, Yc = M - w @ M / W, Y - w @ Y / W
    return Mc.T @ (w[:, None] * Mc), Mc.T @ (w[:, None] * Yc), Yc.T @ (w[:, None] * Yc)


def test_batches_combined_equal_one_batch():
    # batches far from each other: each is summed about its own mean and the
    # sums are moved to the common one, so nothing is lost to cancellation
    rng = np.random.default_rng(5)
    X = rng.normal(size=(900, 3)) + np.repeat([[0.0], [40.0], [-25.0]], 300, axis=0)
    Y = np.column_stack([X.sum(axis=1) ** 2, X[:, 0]])
    w = rng.uniform(0.5, 2.0, size=900)
    batches = MomentAccumulator(3, 3, 2)
    for rows in np.array_split(np.arange(900), 3):
        batches.update(X[rows], Y[rows], w[rows])
    whole = _accumulator(X, Y, w, 3)
    assert batches.n_samples == 900
    np.testing.assert_allclose(batches.mean(), w @ X / w.sum(), rtol=1e-13)
    G, r, Syy = _explicit_equations(X, Y, w, 3)
    for acc in (batches, whole):
        eq = acc.normal_equations()
        np.testing.assert_allclose(eq.gram, G, rtol=1e-10, atol=1e-12 * abs(G).max())
        np.testing.assert_allclose(eq.cross, r, rtol=1e-10, atol=1e-12 * abs(r).max())
        np.testing.assert_allclose(eq.target_gram, Syy, rtol=1e-12)


def test_subtracting_a_fold_leaves_the_other_rows():
    rng = np.random.default_rng(6)
    X, Y, w = rng.normal(size=(400, 2)), rng.normal(size=(400, 1)), np.ones(400)
    fold = slice(0, 90)
    rest = _accumulator(X, Y, w, 2) - _accumulator(X[fold], Y[fold], w[fold], 2)
    G, r, Syy = _explicit_equations(X[90:], Y[90:], w[90:], 2)
    eq = rest.normal_equations()
    assert rest.weight == 310 and rest.n_samples == 310
    np.testing.assert_allclose(eq.gram, G, rtol=1e-10, atol=1e-12 * abs(G).max())
    np.testing.assert_allclose(eq.cross, r, rtol=1e-10, atol=1e-12 * abs(r).max())
    np.testing.assert_allclose(eq.target_gram, Syy, rtol=1e-11)


def _pipeline(degree, alpha):
    return make_pipeline(
        StandardScaler(),
        PolynomialFeatures(degree, include_bias=False),
        StandardScaler(),
        Ridge(alpha),
    )


def _weighted(pipe, w):
    """Fit parameters that give every step of ``pipe`` the weights."""
    return {
        f"{name}__sample_weight": w
        for name, step in pipe.named_steps.items()
        if not isinstance(step, PolynomialFeatures)
    }


def _data(n_samples, n_features=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features)) * [2.0, 0.5, 1.0][:n_features] + 3
    y = X[:, 0] ** 3 / 10 - X[:, 1] * X[:, -1] + rng.normal(size=n_samples)
    return (
        X,
        y,
        rng.uniform(0.2, 3.0, size=n_samples),
        rng.normal(size=(50, n_features)) + 3,
    )


@pytest.mark.parametrize("alpha", [1e-8, 1e-3, 1.0, 100.0])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("method", ["moments", "dual"])
def test_alpha_is_ridge_alpha_on_the_standardised_monomials(
    alpha, weighted, method, monkeypatch
):
    X, y, w, X_test = _data(200)
    w = w if weighted else np.ones(len(X))
    monkeypatch.setattr(
        "sklearn_attnpoly._solvers._readout.choose_method", lambda *args: method
    )
    est = AttentionPolynomialRegressor(degree=3, alpha=alpha).fit(X, y, sample_weight=w)
    pipe = _pipeline(3, alpha).fit(X, y, **_weighted(_pipeline(3, alpha), w))
    expected = pipe.predict(X_test)
    np.testing.assert_allclose(
        est.predict(X_test), expected, rtol=0, atol=1e-8 * abs(expected).max()
    )


def test_tiny_alpha_gives_least_squares():
    X, y, _, X_test = _data(400, n_features=3, seed=1)
    est = AttentionPolynomialRegressor(degree=3).fit(X, y)
    reference = make_pipeline(PolynomialFeatures(3), LinearRegression()).fit(X, y)
    np.testing.assert_allclose(
        est.predict(X_test), reference.predict(X_test), rtol=1e-8, atol=1e-8
    )


def test_the_readout_equals_ridge_on_the_networks_own_slots():
    """The previous path: the normal equations of the network's slots, formed
    from the slots it computes, solved in correlation form. At a tiny alpha
    both are least squares on the same space of polynomials."""
    X, y, _, X_test = _data(500, n_features=3, seed=2)
    est = AttentionPolynomialRegressor(degree=4, alpha=1e-12).fit(X, y)
    module = est.net_.module_
    Xs = est.scaling_.transform(X)
    ys = est.target_scaling_.transform(y[:, None])
    with torch.no_grad():
        phi = module.slots(torch.as_tensor(Xs))[:, module.mask].numpy()
    phi_mean = phi.mean(axis=0)
    Pc = phi - phi_mean
    D = np.sqrt((Pc**2).sum(axis=0))
    A = (Pc / D).T @ (Pc / D) + 1e-13 * np.eye(len(D))
    coef = np.linalg.solve(A, (Pc / D).T @ (ys - ys.mean())) / D[:, None]
    with torch.no_grad():
        slots = module.slots(torch.as_tensor(est.scaling_.transform(X_test)))
    pred = (slots[:, module.mask].numpy() - phi_mean) @ coef + ys.mean()
    expected = est.target_scaling_.inverse_transform(pred)[:, 0]
    np.testing.assert_allclose(est.predict(X_test), expected, rtol=1e-7, atol=1e-7)


def test_too_few_directions_penalise_the_represented_polynomial():
    """With 6 random directions at degree 3 (10 cubic monomials), the readout
    is ridge on the slots with the penalty ``alpha ||D V^T beta||^2``: the
    standardised-monomial coefficients of the polynomial it represents."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(300, 3))
    y = np.cos(X).sum(axis=1)
    w = rng.uniform(0.5, 2.0, size=300)
    alpha = 0.5
    est = AttentionPolynomialRegressor(
        degree=3, n_directions=6, alpha=alpha, random_state=0
    ).fit(X, y, sample_weight=w)
    module = est.net_.module_
    F = module.F.detach().numpy()
    mask = module.mask.numpy()
    Xs = est.scaling_.transform(X)
    ys = est.target_scaling_.transform(y[:, None])[:, 0]
    exponents = graded_exponents(3, 3)
    M = monomials(Xs, exponents)
    W = w.sum()
    Mc = M - w @ M / W
    sd = np.sqrt(w @ Mc**2 / W)
    # P maps the masked beta to monomial coefficients: c_s = V_s^T beta_s
    degrees = exponents.sum(axis=1)
    P = np.zeros((len(exponents), mask.sum()))
    column = 0
    for i, k in zip(*np.nonzero(mask), strict=True):
        P[degrees == k + 1, column] = ridge_power_matrix(F[i : i + 1], k + 1)[0]
        column += 1
    Z = Mc @ P
    lhs = Z.T @ (w[:, None] * Z) + alpha * (sd[:, None] * P).T @ (sd[:, None] * P)
    beta = np.linalg.solve(lhs, Z.T @ (w * (ys - w @ ys / W)))
    got = (module.beta.detach().numpy()[..., 0] * slot_signs(3))[mask]
    order = np.lexsort(np.nonzero(mask)[::-1])  # the mask's row-major order
    np.testing.assert_allclose(got, beta[np.argsort(order)], rtol=1e-7, atol=1e-9)


def test_dual_and_moments_give_the_same_readout():
    X, y, w, _ = _data(60, seed=3)
    directions = lattice_directions(3, 3)
    mask = select_power_slots(directions, 3)
    fitted = {}
    for method in ("moments", "dual"):
        readout = solve_readout(
            X / 10, y[:, None], w, directions, 3, alpha=1e-3, method=method
        )
        assert (readout.rank, readout.method) == (
            19 if method == "moments" else 60,
            method,
        )
        np.testing.assert_array_equal(readout.mask, mask)
        fitted[method] = (readout.beta, readout.intercept)
    np.testing.assert_allclose(*(f[0] for f in fitted.values()), rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(*(f[1] for f in fitted.values()), rtol=1e-9)


def test_auto_picks_the_dual_for_few_rows():
    assert choose_method(500, 10, 6) == "dual"
    assert choose_method(45000, 10, 5) == "moments"
    assert choose_method(20, 2, 2) == "moments"


def test_binary_inputs_whose_powers_repeat_them():
    # x^2 = x for 0/1 inputs: the centred monomials are exactly dependent
    rng = np.random.default_rng(8)
    X = rng.integers(0, 2, size=(300, 3)).astype(float)
    y = X[:, 0] + 2 * X[:, 1] * X[:, 2] + 0.1 * rng.normal(size=300)
    est = AttentionPolynomialRegressor(degree=3, alpha=1e-3).fit(X, y)
    pipe = _pipeline(3, 1e-3).fit(X, y)
    np.testing.assert_allclose(est.predict(X), pipe.predict(X), atol=1e-6)


def test_monomial_exponents_lead_with_lower_degrees():
    # the CV's lower degrees are leading blocks of the highest one
    assert (graded_exponents(3, 2) == graded_exponents(3, 4)[:9]).all()
    assert (graded_exponents(3, 4) == monomial_exponents(3, 4)[1:]).all()


def test_the_row_ranges_run_on_threads_of_their_own():
    X = np.random.default_rng(3).normal(size=(400, 3))
    layout = moment_layout(3, 4)
    seen = set()
    summed = _moments._accumulate_rows
    # both ranges must be in flight at once: one after another, this times out
    both = threading.Barrier(2, timeout=10)

    def spy(*args):
        seen.add(threading.get_ident())
        both.wait()
        return summed(*args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_moments, "_accumulate_rows", spy)
        _moments._accumulate_threads(
            layout, np.zeros(layout.n_moments), X, None, None, None, chunk=50, workers=2
        )
    assert len(seen) == 2 and threading.get_ident() not in seen
