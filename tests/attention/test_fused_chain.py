"""The fused chain of structured blocks (``attention/_fused_chain.py``) against
the blocks, and the rounding estimate of its slots."""

import math

import numpy as np
import pytest
import torch

from sklearn_attnpoly import (
    AttentionPolynomialNetwork,
)
from sklearn_attnpoly._solvers._training import WeightedMSELoss
from sklearn_attnpoly.attention import block_bounds
from sklearn_attnpoly.attention._directions import lattice_directions
from sklearn_attnpoly.attention._fused_chain import (
    WeightedMSEReadout,
    _chain,
    exact_radius,
    slot_rounding_errors,
)


def _network(degree=4, n_outputs=2, dtype=torch.float64, radius=2.0):
    directions = torch.as_tensor(lattice_directions(3, degree))
    net = AttentionPolynomialNetwork(
        directions, degree, radius=radius, n_outputs=n_outputs, dtype=dtype
    )
    with torch.no_grad():
        net.beta.normal_()
        net.b.normal_()
    return net


def _block_forward(net, x):
    """The reference: the blocks one by one, differentiated by autograd."""
    beta = net.beta * net.mask[..., None]
    return torch.einsum("bnk,nko->bo", net.block_slots(x @ net.F.T), beta) + net.b


def _values_and_gradients(net, forward, x):
    x = x.clone().requires_grad_()
    net.zero_grad()
    y = forward(x)
    (y * torch.linspace(-1, 2, y.numel(), dtype=y.dtype).view_as(y)).sum().backward()
    grads = [x.grad, net.F.grad, net.beta.grad, net.b.grad]
    return [y.detach()] + [g.clone() for g in grads]


@pytest.mark.parametrize("scale", [0.2, 1.0, 3.0, 100.0])
def test_values_and_gradients_equal_the_blocks(scale):
    # scale 0.2 and 1.0 stay inside the guard radius 2; 3.0 mixes rows inside
    # and outside; 100.0 puts every row far outside, where off-diagonal scores win
    net = _network()
    x = torch.randn(300, 3, dtype=torch.float64) * scale
    fast = _values_and_gradients(net, net, x)
    reference = _values_and_gradients(net, lambda x: _block_forward(net, x), x)
    for ours, theirs in zip(fast, reference, strict=True):
        scale_ = theirs.abs().max().clamp(min=1.0)
        torch.testing.assert_close(ours / scale_, theirs / scale_, rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_slots_are_bitwise_the_blocks(dtype):
    net = _network(degree=5, n_outputs=1, dtype=dtype)
    x = (
        torch.randn(200, 3, dtype=dtype)
        * torch.logspace(-2, 2, 200, dtype=dtype)[:, None]
    )
    x[0] = math.nan
    x[1] = math.inf
    with torch.no_grad():
        fast = net.slots(x)
        blocks = net.block_slots(x @ net.F.T)
        assert torch.equal(fast[2:], blocks[2:])
        assert torch.equal(fast[:2].isnan(), blocks[:2].isnan())
        # the readout sums in another order: equal up to rounding
        rtol = 10 * torch.finfo(dtype).eps
        np.testing.assert_allclose(
            net(x)[2:].numpy(), _block_forward(net, x)[2:].numpy(), rtol=rtol
        )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("radius", [1e-3, 0.5, 2.0, 30.0])
@pytest.mark.parametrize("degree", [1, 2, 5])
def test_exact_radius_covers_the_bound(dtype, radius, degree):
    net = _network(degree=degree, dtype=dtype, radius=radius)
    assert exact_radius(net._two_M2(), dtype) > radius


def test_slots_keep_a_graph_when_one_is_needed():
    net = _network()
    x = torch.randn(5, 3, dtype=torch.float64)
    net.slots(x).sum().backward()
    assert net.F.grad is not None


def _weighted_targets(n_rows, n_outputs, dtype, seed=0):
    generator = torch.Generator().manual_seed(seed)
    target = torch.randn(n_rows, n_outputs, generator=generator, dtype=dtype)
    weight = torch.rand(n_rows, generator=generator, dtype=dtype) * 2
    weight[::7] = 0  # rows of weight zero are in the batch, and count for nothing
    return target, weight


def _loss_and_gradients(net, x, y_weighted, fused, factor=1.0):
    x = x.clone().requires_grad_()
    target, weight = y_weighted
    net.zero_grad()
    if fused == "one pass":
        beta = net.beta * net.mask[..., None]
        loss, y = WeightedMSEReadout.apply(
            x, net.F, beta, net.b, target, weight, net._two_M2(), net.block_slots
        )
        assert not y.requires_grad
    else:
        y = net(x) if fused == "forward" else _block_forward(net, x)
        loss = WeightedMSELoss()(y, target, weight)
    (factor * loss).backward()
    grads = [x.grad, net.F.grad, net.beta.grad, net.b.grad]
    return [loss.detach(), y.detach()] + [g.clone() for g in grads]


@pytest.mark.parametrize("factor", [1.0, 3.0])
@pytest.mark.parametrize("n_outputs", [1, 3])
@pytest.mark.parametrize("scale", [0.2, 1.0, 3.0, 100.0])
def test_fused_loss_equals_forward_criterion_and_backward(scale, n_outputs, factor):
    # the one-pass loss and gradient against the network's forward pass, and
    # against the blocks one by one, each with WeightedMSELoss and autograd;
    # 3.0 and 100.0 put rows beyond the radius, and factor = dL/dloss other
    # than 1 must reach every gradient
    net = _network(n_outputs=n_outputs)
    x = torch.randn(300, 3, dtype=torch.float64) * scale
    y_weighted = _weighted_targets(300, n_outputs, torch.float64)
    fused = _loss_and_gradients(net, x, y_weighted, "one pass", factor)
    forward = _loss_and_gradients(net, x, y_weighted, "forward", factor)
    blocks = _loss_and_gradients(net, x, y_weighted, "blocks", factor)
    for ours, theirs, reference in zip(fused, forward, blocks, strict=True):
        if scale <= 1.0 and factor == 1.0:
            # every row inside, and dL/dloss = 1 as in training: the forward
            # pass's operations in the same order, so the same bits
            assert torch.equal(ours, theirs)
        scale_ = reference.abs().max().clamp(min=1.0)
        for value in (ours, theirs):
            torch.testing.assert_close(
                value / scale_, reference / scale_, rtol=0, atol=1e-12
            )


def test_fused_loss_in_float32_is_bitwise_the_unfused_step():
    net = _network(n_outputs=1, dtype=torch.float32)
    x = torch.randn(2000, 3, dtype=torch.float32)  # several chunks
    x /= x.norm(dim=1, keepdim=True).max()
    y_weighted = _weighted_targets(2000, 1, torch.float32)
    fused = _loss_and_gradients(net, x, y_weighted, "one pass")
    reference = _loss_and_gradients(net, x, y_weighted, "forward")
    for ours, theirs in zip(fused, reference, strict=True):
        assert torch.equal(ours, theirs)


@pytest.mark.parametrize("degree", [1, 2])
def test_fused_loss_of_low_degrees_equals_the_blocks(degree):
    # degree 1 has a constant dy/dt, which Horner's rule does not run through
    net = _network(degree=degree, n_outputs=2)
    x = torch.randn(300, 3, dtype=torch.float64) * 1.5
    y_weighted = _weighted_targets(300, 2, torch.float64)
    fused = _loss_and_gradients(net, x, y_weighted, "one pass")
    blocks = _loss_and_gradients(net, x, y_weighted, "blocks")
    for ours, reference in zip(fused, blocks, strict=True):
        scale_ = reference.abs().max().clamp(min=1.0)
        torch.testing.assert_close(
            ours / scale_, reference / scale_, rtol=0, atol=1e-12
        )


LONG = np.longdouble  # 64-bit significand on x86: the references below


# -- the estimate of one slot, against the chain's own arithmetic -------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("radius", [0.01, 2.0, 1000.0])
def test_slot_rounding_errors_bound_the_chain(dtype, radius):
    q = 6
    two_M2 = [torch.tensor(2 * M**2, dtype=dtype) for M in block_bounds(radius, q)]
    t = torch.linspace(-radius, radius, 20001, dtype=torch.float64).to(dtype)[:, None]
    slots = [torch.empty_like(t) for _ in range(q)]
    _chain(t, two_M2, slots)
    bounds = slot_rounding_errors(two_M2, radius, dtype)
    t_long = t.double().numpy().astype(LONG)
    for k in range(1, q + 1):
        error = np.abs(slots[k - 1].double().numpy() - (-t_long) ** k).max()
        assert bounds[k - 1] / 4 <= error <= bounds[k - 1]  # a bound, and tight
