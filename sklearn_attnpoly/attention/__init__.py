"""The frozen transformer of Fang et al. (2022), one module per result.

- :mod:`~sklearn_attnpoly.attention._tokens`: the tokens of section 2.1;
- :mod:`~sklearn_attnpoly.attention._block`: Lemma 3.1, the frozen block that
  multiplies two token entries (the paper's matrices, and an exact O(n)
  rewriting);
- :mod:`~sklearn_attnpoly.attention._boltzmann`: the same block with softmax
  attention read as a Boltzmann operator, and its certified error;
- :mod:`~sklearn_attnpoly.attention._directions`: Lemma 3.3, the directions
  whose ridge powers span the polynomials;
- :mod:`~sklearn_attnpoly.attention._fused_chain`: Theorem 3.5's chain of
  blocks in one pass over cache-sized chunks, with its gradient;
- :mod:`~sklearn_attnpoly.attention._network`: Theorem 3.5, the network;
- :mod:`~sklearn_attnpoly.attention._assembly`: the network built from arrays;
- :mod:`~sklearn_attnpoly.attention._polynomial_map`: the one map between a
  polynomial and the network's ``(F, beta, b)``.

Nothing here is fitted to data; the solvers return arrays and the estimators
build the network from them. The rest of the package imports this floor
through this module only.
"""

from ._assembly import NetworkSpec, build_network, network_arrays, network_parameters
from ._block import (
    DenseProductBlock,
    StructuredProductBlock,
    check_dense_fits,
    lemma_3_1_weights,
)
from ._boltzmann import boltzmann_arrays
from ._directions import lattice_directions, power_basis, select_power_slots
from ._fused_chain import slot_rounding_errors, slot_signs
from ._network import AttentionPolynomialNetwork, block_bounds
from ._polynomial_map import (
    exact_readout,
    homogeneous_split,
    parts_from_readout,
    readout_from_parts,
    ridge_coefficients,
)
from ._tokens import TokenLayout

__all__ = [
    "AttentionPolynomialNetwork",
    "DenseProductBlock",
    "NetworkSpec",
    "StructuredProductBlock",
    "TokenLayout",
    "block_bounds",
    "boltzmann_arrays",
    "build_network",
    "check_dense_fits",
    "exact_readout",
    "homogeneous_split",
    "lattice_directions",
    "lemma_3_1_weights",
    "network_arrays",
    "network_parameters",
    "parts_from_readout",
    "power_basis",
    "readout_from_parts",
    "ridge_coefficients",
    "select_power_slots",
    "slot_rounding_errors",
    "slot_signs",
]
