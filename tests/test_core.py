"""The frozen transformer core: tokens, Lemma 3.1, Lemma 3.3, Theorem 3.5."""

import itertools
import math

import numpy as np
import pytest
import scipy.linalg
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sklearn_attnpoly import AttentionPolynomialNetwork
from sklearn_attnpoly._polynomial import (
    evaluate,
    homogeneous_exponents,
    monomial_exponents,
    multinomial_coefficients,
    substitute_affine,
    validate_coefficients,
)
from sklearn_attnpoly.attention._block import (
    DenseProductBlock,
    StructuredProductBlock,
    lemma_3_1_weights,
    one_hot_maximum,
)
from sklearn_attnpoly.attention._directions import (
    LatticePowerBasis,
    PivotedPowerBasis,
    expand_ridge_coefficients,
    lattice_directions,
    power_basis,
    ridge_power_matrix,
    select_power_slots,
    solve_ridge_coefficients,
)
from sklearn_attnpoly.attention._network import block_bounds
from sklearn_attnpoly.attention._tokens import TokenLayout, embed

# -- polynomials ------------------------------------------------------------------


def test_homogeneous_exponents_count_and_order():
    exps = homogeneous_exponents(3, 2)
    assert exps.tolist() == [
        [2, 0, 0],
        [1, 1, 0],
        [1, 0, 1],
        [0, 2, 0],
        [0, 1, 1],
        [0, 0, 2],
    ]
    for d, q in [(1, 4), (2, 2), (10, 5), (4, 3)]:
        assert len(homogeneous_exponents(d, q)) == math.comb(d - 1 + q, q)
    assert len(monomial_exponents(10, 5)) == math.comb(15, 5)
    # every exponent of the degree, once, in decreasing lexicographic order
    for d, q in [(1, 0), (1, 3), (3, 0), (3, 4), (5, 3)]:
        every = [e for e in itertools.product(range(q + 1), repeat=d) if sum(e) == q]
        assert homogeneous_exponents(d, q).tolist() == sorted(map(list, every))[::-1]


def test_multinomial_coefficients_are_exact():
    rng = np.random.default_rng(0)
    exponents = rng.integers(0, 6, size=(500, 4))
    exact = [
        math.factorial(int(sum(e))) // math.prod(math.factorial(int(a)) for a in e)
        for e in exponents
    ]
    assert multinomial_coefficients(exponents).tolist() == [float(v) for v in exact]
    assert multinomial_coefficients(np.zeros((2, 3), dtype=int)).tolist() == [1.0, 1.0]


def test_evaluate_known_values():
    coefs = {(2, 0): 1.0, (0, 2): 1.0, (1, 1): -2.0, (0, 0): 0.5}
    X = np.array([[3.0, 4.0], [1.0, 1.0], [0.0, 0.0]])
    np.testing.assert_array_equal(evaluate(coefs, X), [1.5, 0.5, 0.5])


@pytest.mark.parametrize(
    "coefs, message",
    [
        ({}, "coefficients is empty"),
        ({(1, 0): 1.0, (1,): 2.0}, "same length"),
        ({(1, -1): 1.0}, "non-negative"),
        ({(1.5, 0): 1.0}, "non-negative"),
        ({"x1": 1.0}, "tuple of non-negative"),
        ({(1, 0): float("nan")}, "finite real number"),
        ({(1, 0): "3"}, "finite real number"),
        ({(): 1.0}, "at least one feature"),
    ],
)
def test_validate_coefficients_rejects(coefs, message):
    with pytest.raises(ValueError, match=message):
        validate_coefficients(coefs)


def test_validate_coefficients_rejects_non_mapping():
    with pytest.raises(TypeError, match="must be a mapping"):
        validate_coefficients([((1, 0), 1.0)])


def test_validate_coefficients_degree_ignores_zero_terms():
    d, q, coef = validate_coefficients({(3, 0): 0.0, (1, 1): 2.0})
    assert (d, q) == (2, 2)
    assert coef.tolist() == [0, 0, 0, 0, 2, 0]


def test_substitute_affine_matches_evaluation():
    rng = np.random.default_rng(1)
    exps = monomial_exponents(3, 3)
    coef = rng.normal(size=len(exps))
    shift, scale = rng.normal(size=3), rng.uniform(0.5, 2, size=3)
    X = rng.normal(size=(50, 3))
    expected = evaluate(
        dict(zip(map(tuple, exps), coef, strict=True)), (X - shift) / scale
    )
    shifted = substitute_affine(coef, exps, shift, scale)
    got = evaluate(dict(zip(map(tuple, exps), shifted, strict=True)), X)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


# -- tokens -----------------------------------------------------------------------


def test_embed_is_section_2_1():
    t = torch.tensor([[0.5, -2.0, 3.0]], dtype=torch.float64)
    Z = embed(t, TokenLayout(3, 2, compact=False))
    expected = [
        [0.5, 1, 0, 0, 0, 0, 1],
        [-2.0, 0, 1, 0, 0, 0, 1],
        [3.0, 0, 0, 1, 0, 0, 1],
    ]
    assert Z[0].tolist() == expected
    Zc = embed(t, TokenLayout(3, 2, compact=True))
    assert Zc[0].tolist() == [[0.5, 0, 0, 1], [-2.0, 0, 0, 1], [3.0, 0, 0, 1]]


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


# -- Lemma 3.3 --------------------------------------------------------------------


@pytest.mark.parametrize(
    "d, q, bound", [(2, 2, 3), (5, 5, 200), (10, 3, 30), (10, 5, 500)]
)
def test_lattice_directions_are_unit_and_well_conditioned(d, q, bound):
    xi = lattice_directions(d, q)
    assert xi.shape == (math.comb(d - 1 + q, q), d)
    np.testing.assert_allclose(np.linalg.norm(xi, axis=1), 1.0, rtol=1e-15)
    assert np.linalg.cond(ridge_power_matrix(xi, q)) < bound


def test_power_slots_pick_a_basis_per_degree():
    xi = lattice_directions(4, 3)
    mask = select_power_slots(xi, 3)
    assert mask.sum(axis=0).tolist() == [
        math.comb(4 - 1 + s, s) for s in (1, 2, 3)
    ]  # 4, 10, 20


def test_ridge_coefficients_round_trip():
    rng = np.random.default_rng(3)
    d, q = 4, 3
    xi = lattice_directions(d, q)
    mask = select_power_slots(xi, q)
    parts = [rng.normal(size=len(homogeneous_exponents(d, s))) for s in (1, 2, 3)]
    beta = solve_ridge_coefficients(xi, parts)
    assert not beta[~mask].any()
    for got, want in zip(expand_ridge_coefficients(xi, beta), parts, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("d, q", [(1, 4), (2, 3), (4, 3), (10, 3), (3, 6)])
def test_lattice_basis_solves_as_a_factorisation_does(d, q):
    """beta from the Lagrange polynomials of each degree's sub-lattice equals
    the solution of V_s^T beta = c_s on the same directions by LU."""
    rng = np.random.default_rng(d + q)
    xi = lattice_directions(d, q)
    basis = power_basis(xi, q)
    assert isinstance(basis, LatticePowerBasis) and basis.full_rank.all()
    parts = [rng.normal(size=(math.comb(d - 1 + s, s), 2)) for s in range(1, q + 1)]
    beta = basis.coefficients(parts)
    for s, part in enumerate(parts, start=1):
        rows = basis.mask[:, s - 1]
        assert rows.sum() == len(part)
        expected = scipy.linalg.solve(ridge_power_matrix(xi[rows], s).T, part)
        np.testing.assert_allclose(beta[rows, s - 1], expected, rtol=1e-9, atol=1e-11)


def test_other_directions_use_the_pivoted_basis_cached():
    rng = np.random.default_rng(5)
    xi = rng.normal(size=(12, 3))
    xi /= np.linalg.norm(xi, axis=1, keepdims=True)
    basis = power_basis(xi, 3)
    assert isinstance(basis, PivotedPowerBasis) and power_basis(xi.copy(), 3) is basis
    # 12 directions: degrees 1, 2 (3, 6 monomials) fully spanned, 3 (10) too
    assert basis.full_rank.tolist() == [True, True, True]
    assert basis.mask.sum(axis=0).tolist() == [3, 6, 10]
    # a float32 copy of the lattice directions is still the lattice
    lattice = lattice_directions(3, 2).astype(np.float32)
    assert isinstance(power_basis(lattice, 2), LatticePowerBasis)


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
