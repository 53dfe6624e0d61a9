"""Softmax attention's blocks (``attention/_boltzmann.py``): the deficit, the gap
bound and the error bound, on both engines."""

import math

import numpy as np
import pytest
import scipy.special
import torch

from sklearn_attnpoly.attention import AttentionPolynomialNetwork, lattice_directions
from sklearn_attnpoly.attention._boltzmann import (
    boltzmann,
    first_block_deficit,
    first_block_gain,
)


def test_the_deficit_is_at_most_log_n_over_beta_and_its_sharp_form():
    rng = np.random.default_rng(0)
    for n in (2, 3, 10, 30):
        a = torch.as_tensor(rng.normal(scale=3.0, size=(2000, n)))
        for b in (0.5, 2.0, 10.0):
            deficit = a.amax(-1) - boltzmann(a, b)
            assert (deficit >= 0).all()
            sharp = scipy.special.lambertw((n - 1) / math.e).real / b
            assert deficit.max() <= sharp * (1 + 1e-12) <= math.log(n) / b
        # the supremum is reached with every gap equal to (1 + W((n-1)/e)) / b
        w = scipy.special.lambertw((n - 1) / math.e).real
        equal = torch.zeros(1, n, dtype=torch.float64)
        equal[0, 1:] = -(1 + w) / 1.0
        assert (0.0 - boltzmann(equal, 1.0)).item() == pytest.approx(w, rel=1e-12)


def test_the_gap_bound_needs_the_supremum_below_one_over_beta():
    """Two scores, b = 1, every gap at least D = 0.1 (here 1): the deficit
    0.269 exceeds (n - 1) D e^(-bD) = 0.0905 but not (n - 1) sup_(d >= D)
    d e^(-bd) = e^-1."""
    scores = torch.tensor([[0.0, -1.0]], dtype=torch.float64)
    deficit = (0.0 - boltzmann(scores, 1.0)).item()
    assert deficit == pytest.approx(math.exp(-1.0) / (1 + math.exp(-1.0)), rel=1e-12)
    assert deficit > 0.1 * math.exp(-0.1)
    assert deficit <= math.exp(-1.0)
    rng = np.random.default_rng(1)
    for _ in range(200):  # with b D >= 1 the short form holds
        n, b, D = int(rng.integers(2, 20)), float(rng.uniform(0.5, 5)), 0.0
        D = 1.0 / b + float(rng.uniform(0, 3))
        gaps = D + rng.exponential(1.0, size=n - 1)
        a = torch.as_tensor(np.concatenate([[0.0], -gaps]))[None]
        assert (0.0 - boltzmann(a, b)).item() <= (n - 1) * D * math.exp(-b * D)


def _networks(beta, radius=2.0, d=3, q=3, seed=0):
    torch.manual_seed(seed)
    F = torch.as_tensor(lattice_directions(d, q))
    readout = torch.randn(len(F), q, 2, dtype=torch.float64)
    nets = {}
    for name, kwargs in {
        "dense": dict(engine="dense", attention="boltzmann", inverse_temperature=beta),
        "structured": dict(attention="boltzmann", inverse_temperature=beta),
        "hardmax": {},
    }.items():
        net = AttentionPolynomialNetwork(F, q, radius, n_outputs=2, **kwargs)
        with torch.no_grad():
            net.beta.copy_(readout)
        nets[name] = net
    x = torch.randn(300, d, dtype=torch.float64)
    x *= radius * torch.rand(300, 1, dtype=torch.float64) / x.norm(dim=1, keepdim=True)
    return nets, x


@pytest.mark.parametrize("beta", [2.0, 8.0, 40.0])
@pytest.mark.parametrize("reach", [1.0, 30.0])
def test_the_two_engines_are_equal_values_and_gradients(beta, reach):
    """Inside the guard radius, and far outside it (30 times), where the
    diagonal no longer wins and the softmax spreads over the tokens."""
    nets, x = _networks(beta)
    x = reach * x
    outputs, grads = {}, {}
    for name in ("dense", "structured"):
        net = nets[name]
        y = net(x)
        (y**2).sum().backward()
        outputs[name], grads[name] = y.detach(), net.F.grad.clone()
    scale = outputs["dense"].abs().max()
    torch.testing.assert_close(
        outputs["structured"], outputs["dense"], rtol=0, atol=1e-12 * scale
    )
    torch.testing.assert_close(
        grads["structured"],
        grads["dense"],
        rtol=0,
        atol=1e-12 * grads["dense"].abs().max(),
    )


@pytest.mark.parametrize("beta", [8.0, 16.0, 24.0, 40.0])
def test_the_error_bound_holds_and_is_within_ten_times_of_the_error(beta):
    """At beta 8 to 24 the error is far above rounding: the bound is at most
    10 times the largest error on 300 random points (0.70 and 0.50 of it
    here, both outputs); at 40 both are at the rounding level."""
    nets, x = _networks(beta)
    with torch.no_grad():
        measured = (nets["structured"](x) - nets["hardmax"](x)).abs().amax(0).numpy()
    bound = nets["structured"].error_bound()
    rounding = 2 * nets["hardmax"].rounding_error().numpy()
    assert (measured <= bound + rounding).all()
    if beta < 40:
        assert (measured > 1e3 * rounding).all()
        assert (bound <= 10 * measured).all()
    assert (nets["hardmax"].error_bound() == 0).all()


def test_block_one_deficit_is_the_same_for_every_token_and_input():
    torch.manual_seed(0)
    n, bonus, b = 7, 3.0, 1.5
    t = 2 * torch.rand(50, n, dtype=torch.float64) - 1
    scores = t[:, :, None] * torch.ones(n, dtype=torch.float64) + bonus * torch.eye(n)
    deficit = scores.amax(-1) - boltzmann(scores, b)
    expected = first_block_deficit(n, bonus, b)
    assert expected == pytest.approx(6 * 3 * math.exp(-4.5) / (1 + 6 * math.exp(-4.5)))
    torch.testing.assert_close(
        deficit, torch.full_like(deficit, expected), rtol=1e-12, atol=0
    )


def test_first_block_gain_bounds_the_supremum_and_is_exact_on_axes():
    radius = 1.5
    # G_1 = a_1 + a_2 (-x_1) + a_3 x_1^2 along the first axis: sup |G_1| is
    # reached at x_1 = -R with every term positive
    axis = np.array([[1.0, 0.0, 0.0]])
    a = np.array([[[0.5], [2.0], [1.0]]])
    gain = first_block_gain(axis, a, radius)
    assert gain[0] == pytest.approx(0.5 + 2 * radius + radius**2, rel=1e-12)
    # random directions and readout: above the largest |G_1| found on the
    # ball, below the readout's size
    rng = np.random.default_rng(3)
    F = rng.normal(size=(12, 3))
    F /= np.linalg.norm(F, axis=1, keepdims=True)
    a = rng.normal(size=(12, 4, 2))
    x = rng.normal(size=(20000, 3))
    x *= radius / np.linalg.norm(x, axis=1, keepdims=True)
    t = x @ F.T
    G = sum(np.einsum("bi,im->bm", (-t) ** k, a[:, k]) for k in range(4))
    gain = first_block_gain(F, a, radius)
    crude = (np.abs(a) * (radius ** np.arange(4))[None, :, None]).sum(axis=(0, 1))
    assert (np.abs(G).max(axis=0) <= gain).all() and (gain < crude).all()


def test_a_gap_that_is_not_certified_gives_no_bound():
    nets, _ = _networks(2.0)
    assert np.isinf(nets["structured"].error_bound()).all()
