"""The token embedding of Section 2.1 (``attention/_tokens.py``)."""

import torch

from sklearn_attnpoly.attention._tokens import TokenLayout, embed

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
