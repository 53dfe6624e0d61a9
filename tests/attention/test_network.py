"""The network of Theorem 3.5 (``attention/_network.py``)."""

import math

import numpy as np
import pytest
import torch

from sklearn_attnpoly import AttentionPolynomialNetwork
from sklearn_attnpoly.attention._directions import (
    lattice_directions,
)
from sklearn_attnpoly.attention._network import block_bounds

# -- Theorem 3.5 ------------------------------------------------------------------


def test_block_bounds_cover_every_block_input():
    assert block_bounds(2.0, 4) == pytest.approx([2.2, 2.2, 4.4, 8.8])
    assert block_bounds(0.5, 3) == pytest.approx([1.1, 0.55, 0.55])


@pytest.mark.parametrize("engine", ["dense", "structured"])
@pytest.mark.parametrize("radius", [0.3, 1.0, 3.0])
def test_network_is_exact_on_its_radius(engine, radius):
    """Rows with |t_i| at the radius itself, the largest values every block
    meets, still get the signed powers: the bounds cover every block input."""
    xi = torch.eye(2, dtype=torch.float64)
    net = AttentionPolynomialNetwork(xi, 5, radius=radius, engine=engine)
    x = torch.tensor(
        [[radius, 0.0], [0.0, -radius], [radius / 2**0.5, -radius / 2**0.5]],
        dtype=torch.float64,
    )
    t = (x @ xi.T).numpy()
    expected = np.stack([(-1.0) ** k * t**k for k in range(1, 6)], axis=-1)
    np.testing.assert_allclose(
        net.slots(x).detach().numpy(), expected, rtol=1e-13, atol=0
    )


@pytest.mark.parametrize("engine", ["dense", "structured"])
def test_network_slots_hold_signed_powers(engine):
    rng = np.random.default_rng(0)
    xi = rng.normal(size=(5, 3))
    xi /= np.linalg.norm(xi, axis=1, keepdims=True)
    net = AttentionPolynomialNetwork(torch.as_tensor(xi), 4, radius=2.0, engine=engine)
    x = rng.normal(size=(20, 3))
    x *= 2.0 * rng.uniform(size=(20, 1)) / np.linalg.norm(x, axis=1, keepdims=True)
    slots = net.slots(torch.as_tensor(x)).detach().numpy()
    t = x @ xi.T
    expected = np.stack([(-1.0) ** k * t**k for k in (1, 2, 3, 4)], axis=-1)
    np.testing.assert_allclose(slots, expected, rtol=1e-12, atol=1e-13)


def test_network_buffers_are_not_parameters():
    net = AttentionPolynomialNetwork(
        torch.eye(3, dtype=torch.float64), 2, radius=1.0, engine="dense"
    )
    assert sorted(name for name, _ in net.named_parameters()) == ["F", "b", "beta"]
    buffers = {name for name, _ in net.named_buffers()}
    assert {"blocks.0.W_Q", "blocks.1.W_K", "blocks.1.b_2", "mask"} <= buffers
    assert "blocks.0.W_Q" in net.state_dict()


@pytest.mark.parametrize("d, q", [(2, 2), (3, 4), (10, 5)])
def test_counts_against_theorem_3_5(d, q):
    n = math.comb(d - 1 + q, q)
    net = AttentionPolynomialNetwork(
        torch.as_tensor(lattice_directions(d, q)), q, radius=1.0
    )
    assert net.count_free_parameters() == n * d + n * q + 1
    assert net.count_free_parameters() < d ** (q + 1) + q * d**q + 1
    with torch.no_grad():
        net.beta.fill_(1.0)
        net.b.fill_(1.0)
    nonzero = net.count_nonzero()
    # blocks: q (2n + 8); F: every entry of a lattice direction that is non-zero
    f_nonzero = int(np.count_nonzero(lattice_directions(d, q)))
    assert nonzero == q * (2 * n + 8) + f_nonzero + n * q + 1
    assert nonzero < d ** (q + 1) + 3 * q * d**q + 8 * q + 1
