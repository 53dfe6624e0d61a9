"""The frozen transformer of Fang et al. (2022), one module per result.

- :mod:`~sklearn_attnpoly.attention._tokens`: the tokens of section 2.1;
- :mod:`~sklearn_attnpoly.attention._block`: Lemma 3.1, the frozen block that
  multiplies two token entries (the paper's matrices, and an exact O(n)
  rewriting);
- :mod:`~sklearn_attnpoly.attention._directions`: Lemma 3.3, the directions
  whose ridge powers span the polynomials;
- :mod:`~sklearn_attnpoly.attention._fused_chain`: Theorem 3.5's chain of
  blocks in one pass over cache-sized chunks, with its gradient;
- :mod:`~sklearn_attnpoly.attention._network`: Theorem 3.5, the network.

Nothing here is fitted to data; the estimators build these pieces and fit
``F``, ``beta`` and ``b``.
"""

from ._block import DenseProductBlock, StructuredProductBlock, lemma_3_1_weights
from ._directions import lattice_directions
from ._fused_chain import slot_rounding_errors, slot_signs
from ._network import AttentionPolynomialNetwork, block_bounds
from ._tokens import TokenLayout

__all__ = [
    "AttentionPolynomialNetwork",
    "DenseProductBlock",
    "StructuredProductBlock",
    "TokenLayout",
    "block_bounds",
    "lattice_directions",
    "lemma_3_1_weights",
    "slot_rounding_errors",
    "slot_signs",
]
