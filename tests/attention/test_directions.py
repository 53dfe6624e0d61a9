"""Directions and the power basis (``attention/_directions.py``)."""

import math

import numpy as np
import pytest
import scipy.linalg

from sklearn_attnpoly._polynomial import (
    homogeneous_exponents,
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
