"""The varpro growth's candidates: many one-direction losses at once, and one
L-BFGS per start."""

import numpy as np
import pytest
import torch

from sklearn_attnpoly._solvers._candidates import OneDirectionLosses, minimise_each
from sklearn_attnpoly._solvers._varpro import ReducedLoss, minimise
from sklearn_attnpoly.attention import AttentionPolynomialNetwork


def _unit(F):
    return F / np.linalg.norm(F, axis=1, keepdims=True)


def _rows(n_samples=300, d=4, n_outputs=1, weights="varied", seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-0.5, 0.5, size=(n_samples, d))
    Y = np.column_stack(
        [np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2], X[:, -1] ** 2][:n_outputs]
    ) + 0.05 * rng.standard_normal((n_samples, n_outputs))
    w = rng.uniform(0.5, 2.0, n_samples) if weights == "varied" else np.ones(n_samples)
    return X, Y, w


@pytest.mark.parametrize(
    "weights, alpha, n_outputs",
    [
        ("varied", 1e-3, 1),
        ("equal", 1e-3, 1),
        ("varied", 1e-12, 1),  # below RCOND's reach: the eigendecomposition
        ("varied", 1e-3, 2),
    ],
)
def test_each_loss_is_the_reduced_loss_of_its_direction(weights, alpha, n_outputs):
    X, Y, w = _rows(n_outputs=n_outputs, weights=weights)
    module = AttentionPolynomialNetwork(
        torch.zeros(1, 4, dtype=torch.float64), 3, radius=1.0, n_outputs=n_outputs
    )
    loss = ReducedLoss(module, X, Y, w, alpha)
    Xi = _unit(np.random.default_rng(1).standard_normal((6, 4)))
    J, grad = OneDirectionLosses(X, Y, loss.w, alpha, 3).evaluate(Xi)
    assert J.shape == (6,) and grad.shape == (6, 4)
    one = loss.with_directions(1)
    for k in range(6):
        J_ref, grad_ref, _, _ = one.evaluate(Xi[k : k + 1])
        assert J[k] == pytest.approx(J_ref, rel=1e-12)
        np.testing.assert_allclose(
            grad[k], grad_ref[0], rtol=1e-10, atol=1e-12 * np.abs(grad_ref).max()
        )


def test_a_planted_direction_is_found_and_starts_do_not_meet():
    rng = np.random.default_rng(2)
    X = rng.uniform(-0.5, 0.5, size=(500, 5))
    xi = _unit(rng.standard_normal((1, 5)))[0]
    y = (X @ xi) ** 3 - 0.5 * (X @ xi) + 1e-3 * rng.standard_normal(500)
    losses = OneDirectionLosses(X, y[:, None], np.full(500, 1 / 500), 1e-8, 3)
    near = _unit(xi + 0.2 * rng.standard_normal((1, 5)))
    starts = np.vstack([near, _unit(rng.standard_normal((3, 5)))])
    Xi, J = minimise_each(losses, starts, max_iter=60, tol=1e-9, window=10)
    np.testing.assert_allclose(np.linalg.norm(Xi, axis=1), 1.0, rtol=1e-12)
    assert abs(Xi[0] @ xi) > 1 - 1e-6
    assert 0.8e-6 < J[0] < 1.2e-6  # the noise's variance, 1e-6
    J0, _ = losses.evaluate(_unit(starts))
    assert np.all(J <= J0)
    np.testing.assert_allclose(J, losses.evaluate(Xi)[0], rtol=1e-12)
    # each start's path is its own: fitted alone, it ends where it ended
    for k in range(4):
        alone, J_alone = minimise_each(
            losses, starts[k : k + 1], max_iter=60, tol=1e-9, window=10
        )
        np.testing.assert_allclose(alone[0], Xi[k], atol=1e-8)
        assert J_alone[0] == pytest.approx(J[k], rel=1e-8)


def test_the_iteration_cap_holds_and_zero_iterations_return_the_starts():
    X, Y, w = _rows()
    losses = OneDirectionLosses(X, Y, w / w.sum(), 1e-3, 3)
    starts = 3.0 * np.random.default_rng(3).standard_normal((4, 4))
    Xi, J = minimise_each(losses, starts, max_iter=0, tol=0.0, window=10)
    np.testing.assert_allclose(Xi, _unit(starts), rtol=1e-15)
    np.testing.assert_allclose(J, losses.evaluate(_unit(starts))[0], rtol=1e-15)
    calls = []
    evaluate = losses.evaluate
    losses.evaluate = lambda Xi: calls.append(len(Xi)) or evaluate(Xi)
    minimise_each(losses, starts, max_iter=3, tol=0.0, window=10)
    # the start, then at least one trial per iteration, none after the third
    assert calls[0] == 4 and 1 + 3 <= len(calls) <= 1 + 3 * 31


def test_candidates_land_where_one_at_a_time_lands():
    """Batched, the candidates reach the minima the one-at-a-time fits of
    scipy's L-BFGS reach (their paths differ: another line search)."""
    X, Y, w = _rows(n_samples=400, d=3, seed=4)
    module = AttentionPolynomialNetwork(
        torch.zeros(1, 3, dtype=torch.float64), 3, radius=1.0
    )
    one = ReducedLoss(module, X, Y, w, 1e-6).with_directions(1)
    starts = _unit(np.random.default_rng(5).standard_normal((6, 3)))
    _, J = minimise_each(
        OneDirectionLosses(X, Y, one.w, 1e-6, 3), starts, max_iter=100, tol=1e-10,
        window=10,
    )  # fmt: skip
    scipy_J = [minimise(one, s[None], max_iter=100, tol=1e-10)[1][-1] for s in starts]
    np.testing.assert_allclose(np.sort(J)[0], np.sort(scipy_J)[0], rtol=1e-7)
