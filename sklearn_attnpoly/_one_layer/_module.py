"""The one-layer transformer of Kajitsuka and Sato (2023), as a torch module.

Their result: one layer of single-head softmax self-attention whose weights
have low rank (head size 1), between token-wise feed-forward networks, is
enough to memorise finite samples and to approximate continuous
permutation-equivariant functions. Softmax attention there is read as a
Boltzmann operator, ``boltz_beta(a) = a . softmax(beta a)``, which tells the
tokens apart by their scores. For regression, an input ``x`` in ``R^d`` becomes
``d`` tokens and the outputs are pooled:

    h0_j = x_j w + e_j                       (value and learned position)
    h1   = h0 + FF_1(h0)                     (token-wise, residual)
    s_ij = (h1_i W_Q) . (h1_j W_K) / sqrt(r) (query-key product of rank r)
    h2_i = h1_i + sum_j softmax(s_i)_j (h1_j W_V) W_O
    h3   = h2 + FF_2(h2)
    y    = W_out mean_j h3_j + b_out

with ``W_Q, W_K, W_V`` of shape ``D x r`` and ``W_O`` of ``r x D``, so that
``W_Q W_K^T`` and ``W_V W_O`` have rank at most ``r`` (``r = 1``: the paper's
head size 1). Without the positional embeddings ``e_j`` the layer is
permutation-equivariant in the tokens and the pooled output ignores the order
of the features.
"""

import math

import torch
from torch import nn


class OneLayerTransformer(nn.Module):
    """``y = W_out mean_j FF_2(Attn(FF_1(x_j w + e_j)))``, one head of rank ``r``.

    Parameters
    ----------
    n_features : int
        ``d``, the tokens per input.
    n_outputs : int
        Outputs of the readout.
    d_model : int
        ``D``, the width of a token.
    hidden_size : int
        Hidden units of each feed-forward network.
    rank : int
        ``r``, the head size: the rank of ``W_Q W_K^T`` and ``W_V W_O``.
    """

    def __init__(self, n_features, n_outputs, d_model, hidden_size, rank):
        super().__init__()
        self.rank = rank
        self.value = nn.Parameter(torch.randn(d_model))
        self.position = nn.Parameter(torch.randn(n_features, d_model))
        self.ff_1 = _feed_forward(d_model, hidden_size)
        self.W_Q = nn.Linear(d_model, rank, bias=False)
        self.W_K = nn.Linear(d_model, rank, bias=False)
        self.W_V = nn.Linear(d_model, rank, bias=False)
        self.W_O = nn.Linear(rank, d_model, bias=False)
        self.ff_2 = _feed_forward(d_model, hidden_size)
        self.out = nn.Linear(d_model, n_outputs)

    def attention(self, h):
        """Return the attention weights ``softmax(s_i)``, ``(batch, d, d)``.

        Parameters
        ----------
        h : Tensor of shape (batch, d, d_model)
            Tokens.

        Returns
        -------
        Tensor of shape (batch, d, d)
            Row ``i`` holds token ``i``'s weights over the tokens.
        """
        scores = self.W_Q(h) @ self.W_K(h).transpose(1, 2) / math.sqrt(self.rank)
        return torch.softmax(scores, dim=-1)

    def forward(self, x):
        """Compute ``y`` for inputs ``x``.

        Parameters
        ----------
        x : Tensor of shape (batch, d)
            Standardised inputs.

        Returns
        -------
        Tensor of shape (batch, n_outputs)
            The outputs.
        """
        h = x[..., None] * self.value + self.position  # h0: (batch, d, D)
        h = h + self.ff_1(h)
        h = h + self.W_O(self.attention(h) @ self.W_V(h))
        h = h + self.ff_2(h)
        return self.out(h.mean(dim=1))


def _feed_forward(d_model, hidden_size):
    # tanh: measured to memorise where ReLU networks of the same size did not
    return nn.Sequential(
        nn.Linear(d_model, hidden_size), nn.Tanh(), nn.Linear(hidden_size, d_model)
    )
