"""The varpro solver: the reduced loss's gradient, recovery of planted
directions, and the estimator's contract (weights, outputs, engines, seeds)."""

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning

from sklearn_attnpoly import AttentionPolynomialRegressor
from sklearn_attnpoly._solvers._varpro import ReducedLoss
from sklearn_attnpoly.attention import AttentionPolynomialNetwork


def _planted(n_samples=600, seed=0, noise=0.0):
    """A cubic in 5 variables that is a sum of powers of 3 projections."""
    rng = np.random.default_rng(seed)
    xi = rng.standard_normal((3, 5))
    xi /= np.linalg.norm(xi, axis=1, keepdims=True)
    X = rng.uniform(-1, 1, size=(n_samples, 5))
    T = X @ xi.T
    # each direction carries a power of degree >= 2, which identifies it (a
    # linear term alone could be spread over any directions)
    y = T[:, 0] ** 3 + T[:, 0] - 2 * T[:, 1] ** 2 + T[:, 2] ** 3 - T[:, 2] ** 2 + 1.0
    return X, y + noise * rng.standard_normal(n_samples), xi


def _reference_loss(module, F, X, Y, w, alpha):
    """The reduced loss written out in autograd: the slots through the frozen
    blocks, the readout by a differentiable solve (no envelope argument)."""
    F = torch.as_tensor(F).clone().requires_grad_(True)
    X, Y, w = (torch.as_tensor(a) for a in (X, Y, w))
    w = w / w.sum()
    S = module.block_slots(X @ F.T).reshape(len(X), -1)
    m = w @ S
    Sc = S - m
    G = Sc.T @ (w[:, None] * Sc)
    D = torch.sqrt(torch.diagonal(G))
    C = G / torch.outer(D, D)
    y_mean = w @ Y
    r = Sc.T @ (w[:, None] * (Y - y_mean)) / D[:, None]
    c = torch.linalg.solve(C + alpha * torch.eye(len(C), dtype=C.dtype), r)
    beta = c / D[:, None]
    b = y_mean - m @ beta
    residual = Y - b - S @ beta
    J = (w * (residual**2).sum(1)).sum() + alpha * ((D[:, None] * beta) ** 2).sum()
    J.backward()
    return float(J.detach()), F.grad.numpy()


@pytest.mark.parametrize(
    "engine, weights, alpha, product",
    [
        ("structured", "varied", 1e-3, "numpy"),
        ("dense", "varied", 1e-3, "numpy"),
        # equal weights take the solver's shortcut; a ridge below RCOND's
        # reach, its eigendecomposition instead of one solve
        ("structured", "equal", 1e-3, "numpy"),
        ("structured", "varied", 1e-12, "numpy"),
        # large chunks take torch's in-place product for the gradient's terms
        ("structured", "varied", 1e-3, "torch"),
    ],
)
def test_envelope_gradient_equals_autograd_through_the_blocks(
    engine, weights, alpha, product, monkeypatch
):
    if product == "torch":
        monkeypatch.setattr("sklearn_attnpoly._solvers._varpro.SMALL_CHUNK", 0)
    rng = np.random.default_rng(1)
    X = rng.uniform(-0.5, 0.5, size=(300, 4))
    Y = np.column_stack([np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2], X[:, 3] ** 2])
    w = rng.uniform(0.5, 2.0, size=300) if weights == "varied" else np.full(300, 3.0)
    F = rng.standard_normal((5, 4))
    F /= np.linalg.norm(F, axis=1, keepdims=True)
    module = AttentionPolynomialNetwork(
        torch.as_tensor(F), 3, radius=1.0, n_outputs=2, engine=engine
    )
    J, grad, _, _ = ReducedLoss(module, X, Y, w, alpha).evaluate(F)
    J_ref, grad_ref = _reference_loss(module, F, X, Y, w, alpha)
    assert J == pytest.approx(J_ref, rel=1e-10)
    np.testing.assert_allclose(
        grad, grad_ref, rtol=1e-8, atol=1e-8 * np.abs(grad_ref).max()
    )


def test_softmax_blocks_give_the_loss_of_their_own_slots():
    # the exact blocks' slots are computed as powers; softmax blocks' come
    # from their chain, which differs from the powers by the certified gap
    rng = np.random.default_rng(2)
    X = rng.uniform(-0.5, 0.5, size=(200, 3))
    Y = (X[:, :1] - X[:, 1:2]) ** 3
    F = _unit(rng.standard_normal((2, 3)))
    kwargs = dict(radius=1.0, attention="boltzmann", inverse_temperature=3.0)
    module = AttentionPolynomialNetwork(torch.as_tensor(F), 3, **kwargs)
    J, _, _, _ = ReducedLoss(module, X, Y, np.ones(200), 1e-3).evaluate(F)
    J_ref, _ = _reference_loss(module, F, X, Y, np.ones(200), 1e-3)
    exact = AttentionPolynomialNetwork(torch.as_tensor(F), 3, radius=1.0)
    J_exact, _, _, _ = ReducedLoss(exact, X, Y, np.ones(200), 1e-3).evaluate(F)
    assert J == pytest.approx(J_ref, rel=1e-10)
    assert abs(J - J_exact) > 1e-6 * J_exact


@pytest.mark.slow
def test_planted_directions_are_recovered():
    X, y, xi = _planted()
    X_test, y_test, _ = _planted(n_samples=400, seed=0)
    est = AttentionPolynomialRegressor(
        degree=3, n_directions=3, solver="varpro", alpha=0.0, tol=0.0, random_state=0
    ).fit(X, y)
    relative = np.mean((est.predict(X_test) - y_test) ** 2) / np.var(y_test)
    assert relative < 1e-12
    # the learned rows, mapped back from the scaled inputs (x_scaled = (x -
    # shift) / scale), are the planted directions, up to order and sign
    F = est.net_.module_.F.detach().numpy() / est.scaling_.scale
    cosines = np.abs(_unit(F) @ xi.T).max(axis=0)
    np.testing.assert_allclose(cosines, 1.0, atol=1e-6)


def _unit(F):
    return F / np.linalg.norm(F, axis=1, keepdims=True)


@pytest.mark.slow
def test_varpro_beats_random_directions_and_is_deterministic():
    X, y, _ = _planted(n_samples=300, noise=0.01)
    kwargs = dict(degree=3, n_directions=3, random_state=3)
    learned = AttentionPolynomialRegressor(solver="varpro", **kwargs).fit(X, y)
    again = AttentionPolynomialRegressor(solver="varpro", **kwargs).fit(X, y)
    random = AttentionPolynomialRegressor(**kwargs).fit(X, y)
    np.testing.assert_array_equal(learned.predict(X), again.predict(X))
    assert learned.n_iter_ == again.n_iter_ == len(learned.loss_curve_)
    assert learned.score(X, y) > 0.999 > random.score(X, y)


def test_weights_are_repeated_rows_and_outputs_are_columns():
    X, y, _ = _planted(n_samples=200, seed=2, noise=0.05)
    Y = np.column_stack([y, X[:, 0] ** 2])
    counts = np.random.default_rng(0).integers(1, 4, size=len(X))
    F = _unit(np.random.default_rng(1).standard_normal((3, 5)))
    module = AttentionPolynomialNetwork(torch.as_tensor(F), 3, radius=4.0, n_outputs=2)
    weighted = ReducedLoss(module, X, Y, counts, 1e-6).evaluate(F)
    repeated = ReducedLoss(
        module, np.repeat(X, counts, axis=0), np.repeat(Y, counts, axis=0),
        np.ones(counts.sum()), 1e-6,
    ).evaluate(F)  # fmt: skip
    for a, b in zip(weighted, repeated, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    # two outputs: the loss is the sum of each output's own
    each = [ReducedLoss(module, X, Y[:, [o]], counts, 1e-6).evaluate(F) for o in (0, 1)]
    assert weighted[0] == pytest.approx(each[0][0] + each[1][0], rel=1e-12)
    est = AttentionPolynomialRegressor(
        degree=3, n_directions=3, solver="varpro", random_state=0
    ).fit(X, Y, sample_weight=counts)
    assert est.predict(X).shape == (len(X), 2)
    assert est.score(X, Y, sample_weight=counts) > 0.99


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_the_engines_fit_the_same_model():
    X, y, _ = _planted(n_samples=150, seed=4, noise=0.01)
    kwargs = dict(
        degree=3, n_directions=2, solver="varpro", max_iter=20, random_state=0
    )
    structured = AttentionPolynomialRegressor(**kwargs).fit(X, y)
    dense = AttentionPolynomialRegressor(engine="dense", **kwargs).fit(X, y)
    np.testing.assert_allclose(
        structured.predict(X), dense.predict(X), rtol=1e-9, atol=1e-9
    )


def test_by_default_varpro_chooses_its_size_and_its_ridge():
    """A planted 3-direction cubic with noise: 3 +- 1 directions chosen on the
    held-out rows, the kept step the first best score, and the ridge the one
    RidgeCV chooses on the fitted network's standardised slots (1e-8)."""
    X, y, _ = _planted(n_samples=1500, seed=1, noise=0.05)
    est = AttentionPolynomialRegressor(degree=3, solver="varpro", random_state=0)
    est.fit(X, y)
    assert 2 <= est.n_directions_ <= 4
    scores = est.validation_score_
    assert len(scores) >= 2 and scores.max() > 0.99
    assert est.score(X, y) > 0.99
    # the ridge: RidgeCV's, by leave-one-out on the same slot features
    from sklearn.linear_model import RidgeCV
    from sklearn.preprocessing import StandardScaler

    from sklearn_attnpoly._solvers._varpro import ALPHAS

    module = est.net_.module_
    with torch.no_grad():
        slots = module.slots(torch.as_tensor(est.scaling_.transform(X)))
    S = StandardScaler().fit_transform(slots.reshape(len(X), -1).numpy())
    target = est.target_scaling_.transform(y[:, None])[:, 0]
    ridge = RidgeCV(alphas=ALPHAS * len(X)).fit(S, target)
    assert est.alpha_ == pytest.approx(ridge.alpha_, rel=1e-8)
    np.testing.assert_allclose(
        module.readout().detach().numpy().reshape(-1)
        * slots.reshape(len(X), -1).numpy().std(0),
        ridge.coef_,
        rtol=1e-6,
        atol=1e-9,
    )


def test_the_iteration_cap_warns_and_a_constant_target_is_fitted():
    X, y, _ = _planted(n_samples=200, seed=5, noise=0.1)
    with pytest.warns(ConvergenceWarning, match="max_iter=2 iterations"):
        AttentionPolynomialRegressor(
            degree=3, n_directions=2, solver="varpro", max_iter=2, random_state=0
        ).fit(X, y)
    constant = AttentionPolynomialRegressor(
        degree=2, n_directions=2, solver="varpro", random_state=0
    ).fit(X, np.full(len(X), 3.5))
    np.testing.assert_allclose(constant.predict(X), 3.5)


def test_many_features_do_not_form_the_monomials():
    """d = 60 at degree 4: 635 376 monomials, which the lattice refuses; varpro
    fits from its n q slots."""
    rng = np.random.default_rng(6)
    X = rng.standard_normal((400, 60))
    xi = _unit(rng.standard_normal((1, 60)))[0]
    y = (X @ xi) ** 2
    with pytest.raises(MemoryError, match="degree=4 with 60 features"):
        AttentionPolynomialRegressor(degree=4).fit(X, y)
    est = AttentionPolynomialRegressor(
        degree=4, n_directions=2, solver="varpro", random_state=0
    ).fit(X, y)
    assert est.score(X, y) > 0.9999
