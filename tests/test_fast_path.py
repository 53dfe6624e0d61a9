"""The fused chain of structured blocks (``_fast.py``) against the blocks."""

import math

import numpy as np
import pytest
import torch

from sklearn_attnpoly import AttentionPolynomialNetwork
from sklearn_attnpoly._block import check_dense_fits
from sklearn_attnpoly._directions import lattice_directions
from sklearn_attnpoly._fast import exact_radius
from sklearn_attnpoly._tokens import TokenLayout


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


def test_dense_engine_refuses_what_does_not_fit():
    layout = TokenLayout(n=2002, q=5, compact=False)
    with pytest.raises(MemoryError, match="engine='structured'"):
        check_dense_fits(10**6, layout, torch.float64, "cpu")
    check_dense_fits(2, layout, torch.float64, "cpu")
    net = AttentionPolynomialNetwork(
        torch.as_tensor(lattice_directions(10, 5)), 5, radius=1.0, engine="dense"
    )
    with pytest.raises(MemoryError, match="smaller batch_size"):
        net(torch.zeros(10**5, 10, dtype=torch.float64))
