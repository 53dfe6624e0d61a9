"""Softmax attention as the Boltzmann operator: its facts, the two engines,
the certified error bound, and the estimator with attention="boltzmann"."""

import math
import warnings

import numpy as np
import pytest
import scipy.special
import torch

from sklearn_attnpoly import AttentionPolynomialRegressor, BoltzmannErrorWarning
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


@pytest.mark.parametrize("solver", ["lstsq", "varpro", "sgd", "adam"])
def test_every_solver_fits_with_softmax_attention(solver):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(150, 2))
    y = X[:, 0] ** 2 - X[:, 0] * X[:, 1] + 0.5
    kwargs = {"n_directions": 3} if solver == "varpro" else {}
    est = AttentionPolynomialRegressor(
        degree=2, attention="boltzmann", solver=solver, max_epochs=5,
        random_state=0, **kwargs,
    )  # fmt: skip
    with warnings.catch_warnings():
        # Adam's first steps from the closed-form start, at zero loss, raise
        # it: the start is kept, with nothing to report
        warnings.simplefilter("error")
        est.fit(X, y)
    assert est.score(X, y) > 0.99
    assert isinstance(est.error_bound_, float)
    if solver == "lstsq":  # the polynomial's readout: within the bound of it
        exact = AttentionPolynomialRegressor(degree=2).fit(X, y)
        rounding = 1e-12 * np.abs(exact.predict(X)).max()
        difference = np.abs(est.predict(X) - exact.predict(X)).max()
        assert difference <= est.error_bound_ + rounding


def test_a_loose_temperature_warns_at_predict():
    est = AttentionPolynomialRegressor.from_polynomial(
        {(2, 0): 1.0, (1, 1): -1.0}, attention="boltzmann", inverse_temperature=3.0
    )
    with pytest.warns(
        BoltzmannErrorWarning,
        match="a larger inverse_temperature .now 3. tightens it",
    ):
        est.predict([[0.5, 0.5]])
    with pytest.raises(
        ValueError,
        match=r"'inverse_temperature' parameter .* must be a float in the range "
        r"\(0.0, inf\)",
    ):
        AttentionPolynomialRegressor(
            attention="boltzmann", inverse_temperature=0.0
        ).fit([[0.0], [1.0]], [0.0, 1.0])


def test_beta_is_the_deprecated_name_of_the_inverse_temperature():
    X = np.random.default_rng(0).normal(size=(40, 2))
    y = X[:, 0] ** 2 - X[:, 0] * X[:, 1]
    new = AttentionPolynomialRegressor(
        attention="boltzmann", inverse_temperature=12.0
    ).fit(X, y)
    with pytest.warns(
        FutureWarning,
        match=r"^'beta' was renamed 'inverse_temperature' in 0.2 and will be "
        r"removed in 0.4; pass inverse_temperature instead.$",
    ):
        old = AttentionPolynomialRegressor(attention="boltzmann", beta=12.0).fit(X, y)
    np.testing.assert_array_equal(old.predict(X), new.predict(X))
    assert old.error_bound_ == new.error_bound_ > 0
    with pytest.warns(FutureWarning, match="'beta' was renamed"):
        AttentionPolynomialRegressor.from_polynomial(
            {(2, 0): 1.0}, attention="boltzmann", beta=12.0
        )


def test_the_error_bound_has_one_entry_per_output():
    X = np.random.default_rng(0).normal(size=(40, 2))
    y = X[:, 0] ** 2 - X[:, 0] * X[:, 1]
    Y = np.column_stack([y, 3 * y])
    est = AttentionPolynomialRegressor(attention="boltzmann", inverse_temperature=12.0)
    bound = est.fit(X, Y).error_bound_
    assert bound.shape == (2,)
    np.testing.assert_allclose(bound[1], 3 * bound[0], rtol=1e-6)


@pytest.mark.slow
def test_the_default_temperature_gives_f2_to_one_part_in_a_million():
    from sklearn_attnpoly.paper.datasets import PAPER_F2, paper_f2

    est = AttentionPolynomialRegressor.from_polynomial(
        PAPER_F2, radius=5.0, attention="boltzmann"
    )
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 10))
    X *= 5 * rng.uniform(size=(20, 1)) / np.linalg.norm(X, axis=1, keepdims=True)
    exact = paper_f2(X)
    assert np.abs(est.predict(X) - exact).max() <= 1e-6 * np.abs(exact).max()
    assert est.error_bound_ <= 1e-6 * np.abs(exact).max()


def test_a_softmax_batch_that_cannot_fit_is_refused_before_any_work():
    """f2's shape: 2002 tokens score each other in every one of the five
    blocks, and training keeps every block's gaps and weights for the
    backward pass: (2 q + 1) 4096 n^2 float64 entries, 1345.5 GiB."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(5000, 10)), rng.normal(size=5000)
    est = AttentionPolynomialRegressor(
        degree=5, attention="boltzmann", solver="adam", batch_size=4096
    )
    with pytest.raises(
        MemoryError, match=r"attention='boltzmann' needs about 1345.5 GiB"
    ):
        est.fit(X, y)
    assert not hasattr(est, "net_")
