"""The product blocks of Lemma 3.1 (``attention/_block.py``): the weights of the
proof, the dense and structured engines, and the dense engine's size check."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sklearn_attnpoly import AttentionPolynomialNetwork
from sklearn_attnpoly.attention._block import (
    DenseProductBlock,
    StructuredProductBlock,
    check_dense_fits,
    lemma_3_1_weights,
    one_hot_maximum,
)
from sklearn_attnpoly.attention._directions import (
    lattice_directions,
)
from sklearn_attnpoly.attention._tokens import TokenLayout, embed

# -- Lemma 3.1 --------------------------------------------------------------------


def test_lemma_3_1_weights_are_the_proof():
    layout = TokenLayout(n=2, q=3, compact=False)  # width 7: t, e1, e2, s1, s2, s3, 1
    W = lemma_3_1_weights(layout, x_entry=0, y_entry=3, slot=4, M=1.5)
    assert W["W_Q"].tolist() == [
        [1, 0, 0, 0, 0, 0, 0],
        [0, 4.5, 0, 0, 0, 0, 0],
        [0, 0, 4.5, 0, 0, 0, 0],
    ]
    assert W["W_K"].tolist() == [
        [0, 0, 0, 1, 0, 0, 0],
        [0, 1, 0, 0, 0, 0, 0],
        [0, 0, 1, 0, 0, 0, 0],
    ]
    assert W["W_V"].nonzero().tolist() == [[4, 6]]
    assert W["W_1"].tolist() == [[0, 0, 0, 0, 1, 0, 0], [0, 0, 0, 0, -1, 0, 0]]
    assert W["W_2"][4].tolist() == [-2, 2] and int(W["W_2"].count_nonzero()) == 2
    assert W["b_1"].tolist() == [0, 0]
    assert W["b_2"].tolist() == [0, 0, 0, 0, 4.5, 0, 0]


def test_lemma_3_1_rejects_compact_layout():
    with pytest.raises(ValueError, match="full token layout"):
        lemma_3_1_weights(TokenLayout(2, 2, compact=True), 0, 3, 1, 1.0)


@pytest.mark.parametrize("n", [1, 2, 7, 40])
def test_nonzeros_per_block_is_2n_plus_8(n):
    full, compact = TokenLayout(n, 3, False), TokenLayout(n, 3, True)
    dense = DenseProductBlock(full, full.t, full.slot(1), full.slot(2), M=2.0)
    structured = StructuredProductBlock(
        compact, compact.t, compact.slot(1), compact.slot(2), M=2.0
    )
    assert dense.count_nonzero() == 2 * n + 8
    assert structured.count_nonzero() == 2 * n + 8


def test_one_hot_maximum_keeps_one_entry_under_ties():
    alpha = torch.tensor([[1.0, 3.0, 3.0, -1.0], [0.0, 0.0, 0.0, 0.0]])
    assert one_hot_maximum(alpha).tolist() == [[0, 3, 0, 0], [0, 0, 0, 0]]


def test_block_multiplies_inside_the_bound():
    layout = TokenLayout(n=4, q=2, compact=False)
    block = DenseProductBlock(layout, layout.t, layout.slot(1), layout.slot(2), M=2.0)
    t = torch.tensor([[0.5, -1.5, 1.9, 0.0]], dtype=torch.float64)
    y = torch.tensor([[1.9, 0.3, -1.0, -1.9]], dtype=torch.float64)
    Z = embed(t, layout)
    Z[..., layout.slot(1)] = y
    out = block(Z)
    np.testing.assert_allclose(out[..., layout.slot(2)], -(t * y), rtol=0, atol=1e-15)
    # every other entry is unchanged
    untouched = [e for e in range(layout.width) if e != layout.slot(2)]
    assert torch.equal(out[..., untouched], Z[..., untouched])


def _engine_pair(n, q, k, M):
    full, compact = TokenLayout(n, q, False), TokenLayout(n, q, True)
    dense = DenseProductBlock(full, full.t, full.slot(k - 1), full.slot(k), M)
    structured = StructuredProductBlock(
        compact, compact.t, compact.slot(k - 1), compact.slot(k), M
    )
    return full, compact, dense, structured


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    n=st.integers(1, 9),
    k=st.integers(1, 3),
    spread=st.sampled_from([0.5, 1.0, 10.0, 1e3]),
)
def test_dense_and_structured_blocks_agree_on_any_input(data, n, k, spread):
    """Inside the bound (spread < 1) and far outside it (spread up to 1e3 M)."""
    M = 1.3
    q = 3
    values = arrays(np.float64, (2, n, q + 1), elements=st.floats(-1, 1, width=64))
    raw = torch.as_tensor(data.draw(values)) * spread * M
    full, compact, dense, structured = _engine_pair(n, q, k, M)
    Zf = embed(raw[..., 0], full)
    Zc = embed(raw[..., 0], compact)
    for s in range(1, k):  # the slots earlier blocks filled
        Zf[..., full.slot(s)] = raw[..., s]
        Zc[..., compact.slot(s)] = raw[..., s]
    out_dense = dense(Zf)
    out_structured = structured(Zc)
    keep = [full.t, *range(full.slot(1), full.one + 1)]
    scale = float(2 * M * M + raw.abs().max() ** 2)
    np.testing.assert_allclose(
        out_structured.numpy(),
        out_dense[..., keep].numpy(),
        rtol=1e-12,
        atol=1e-12 * scale,
    )
    # the one-hot part is untouched by the dense block
    assert torch.equal(out_dense[..., 1 : n + 1], Zf[..., 1 : n + 1])


def test_structured_block_is_not_the_product_outside_the_bound():
    """What the bound is for: past it, another token's score wins the maximum."""
    _, compact, _, structured = _engine_pair(n=2, q=2, k=2, M=1.0)
    t = torch.tensor([[10.0, -10.0]], dtype=torch.float64)
    Z = embed(t, compact)
    Z[..., compact.slot(1)] = -t  # what block 1 writes
    out = structured(Z)[..., compact.slot(2)]
    # t_1 * y_2 = 10 * 10 = 100 beats t_1 * y_1 + 2 M^2 = -100 + 2
    # where the product would be -t^2 = -100
    assert out.tolist() == [[-98.0, -98.0]]


def test_block_gradient_flows_to_the_kept_score():
    _, compact, _, structured = _engine_pair(n=3, q=2, k=2, M=3.0)
    t = torch.tensor([[0.5, -1.0, 2.0]], dtype=torch.float64, requires_grad=True)
    Z = embed(t, compact).clone()
    Z[..., compact.slot(1)] = -t
    structured(Z)[..., compact.slot(2)].sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), 2 * t.detach().numpy())


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
