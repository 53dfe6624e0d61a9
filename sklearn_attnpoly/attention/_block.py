"""Lemma 3.1: a frozen encoder block that multiplies two token entries.

For tokens ``z_i`` whose entries ``x_i`` and ``y_i`` satisfy ``|x_i|, |y_i| < M``,
the block writes ``-x_i * y_i`` into an empty slot ``c`` of every token at once
and leaves every other entry unchanged. Its attention and feed-forward weights
are constants of the proof in section 6 of the paper, with 2n + 8 non-zero
entries and nothing to train:

* query ``q_i = W^Q z_i = [x_i, 2M^2 e_i]``, key ``k_j = W^K z_j = [y_j, e_j]``,
  so the score ``alpha_ij = <q_i, k_j> = x_i y_j + 2M^2 [i = j]``;
* the one-hot maximum ``m_hat`` keeps the largest score of each row; while
  ``|x|, |y| < M`` that is the diagonal one, ``x_i y_i + 2M^2``;
* every value ``W^V z_j = e_c`` (the constant 1 moved into slot ``c``), so
  ``z_hat_i = z_i + W^V Z m_hat(alpha_i)`` adds the kept score to slot ``c``;
* the feed-forward layer ``z'_i = z_hat_i + W_2 relu(W_1 z_hat_i + b_1) + b_2``
  maps slot ``c`` from ``s`` to ``s - 2 relu(s) + 2 relu(-s) + 2M^2 = 2M^2 - s``.

Two engines compute the same function. :class:`DenseProductBlock` holds the
literal matrices and is the reference to check against the paper.
:class:`StructuredProductBlock` uses that all values are equal: the attention
output is ``(max_j alpha_ij) e_c``, and ``max_{j != i} x_i y_j`` is ``x_i``
times the largest (``x_i >= 0``) or smallest (``x_i < 0``) ``y_j`` of the other
tokens, so the block costs O(n) per input instead of O(n^2). Multiplication by
a fixed ``x_i`` is monotone in floating point too, so this is an exact
rewriting for every input, inside the bound or not.
"""

import torch
from torch import nn

from .._device import available_memory
from ._tokens import TokenLayout


def lemma_3_1_weights(layout, x_entry, y_entry, slot, M, bonus=None):
    """The weights of the proof of Lemma 3.1, for tokens of ``layout``.

    Parameters
    ----------
    layout : TokenLayout
        A full (non-compact) layout: the weights act on all ``n + q + 2`` entries.
    x_entry, y_entry : int
        Entries that hold ``x_i`` and ``y_i``.
    slot : int
        The empty entry that receives ``-x_i y_i``.
    M : float
        The bound on ``|x_i|`` and ``|y_i|``.
    bonus : float, default=None
        The diagonal bonus added to the scores and removed by the
        feed-forward layer: ``2 M^2`` (Lemma 3.1's) when None.

    Returns
    -------
    dict of str to Tensor
        ``W_Q``, ``W_K`` of shape ``(n + 1, n + q + 2)``, ``W_V`` of shape
        ``(n + q + 2, n + q + 2)``, ``W_1`` ``(2, n + q + 2)``, ``b_1`` ``(2,)``,
        ``W_2`` ``(n + q + 2, 2)``, ``b_2`` ``(n + q + 2,)``, in float64.

    Examples
    --------
    >>> from sklearn_attnpoly.attention import TokenLayout, lemma_3_1_weights
    >>> layout = TokenLayout(n=3, q=2, compact=False)
    >>> W = lemma_3_1_weights(layout, layout.t, layout.one, layout.slot(1), M=2.0)
    >>> sum(int(w.count_nonzero()) for w in W.values())  # 2n + 8
    14
    """
    if layout.compact:
        raise ValueError("Lemma 3.1's matrices act on the full token layout.")
    n, width = layout.n, layout.width
    onehot = slice(1, n + 1)
    two_M2 = 2.0 * M * M if bonus is None else float(bonus)
    f64 = torch.float64
    W_Q = torch.zeros(n + 1, width, dtype=f64)
    W_Q[0, x_entry] = 1.0
    W_Q[1:, onehot] = two_M2 * torch.eye(n, dtype=f64)
    W_K = torch.zeros(n + 1, width, dtype=f64)
    W_K[0, y_entry] = 1.0
    W_K[1:, onehot] = torch.eye(n, dtype=f64)
    W_V = torch.zeros(width, width, dtype=f64)
    W_V[slot, layout.one] = 1.0
    W_1 = torch.zeros(2, width, dtype=f64)
    W_1[0, slot], W_1[1, slot] = 1.0, -1.0
    b_1 = torch.zeros(2, dtype=f64)
    W_2 = torch.zeros(width, 2, dtype=f64)
    W_2[slot, 0], W_2[slot, 1] = -2.0, 2.0
    b_2 = torch.zeros(width, dtype=f64)
    b_2[slot] = two_M2
    return {"W_Q": W_Q, "W_K": W_K, "W_V": W_V, "W_1": W_1, "b_1": b_1,
            "W_2": W_2, "b_2": b_2}  # fmt: skip


def one_hot_maximum(alpha):
    """``m_hat``: keep the largest entry of each row of ``alpha``, zero the rest.

    Exactly one entry is kept even under ties, so the attention never adds a
    value twice. The gradient flows to the kept entry.
    """
    values, index = alpha.max(dim=-1, keepdim=True)
    return torch.zeros_like(alpha).scatter(-1, index, values)


#: ``(batch, n, n + q + 2)``-sized arrays alive at once in a dense block: the
#: tokens, queries, keys, values, scores, the one-hot maximum and its output.
DENSE_ARRAYS = 8

#: ``(batch, n, q + 2)``-sized arrays alive at once in a structured block: the
#: compact tokens, their copy, and the ``(batch, n)`` scores and extremes.
STRUCTURED_ARRAYS = 4


def check_dense_fits(batch, layout, dtype, device):
    """Raise a MemoryError before a dense forward pass that cannot fit.

    :class:`DenseProductBlock` holds about ``DENSE_ARRAYS`` arrays of
    ``batch * n * (n + q + 2)`` entries: its cost is O(batch n^2) in memory
    and time, against O(batch n) for the structured engine.

    Parameters
    ----------
    batch : int
        Rows of the forward pass.
    layout : TokenLayout
        The tokens' layout (``n`` tokens of ``width`` entries).
    dtype : torch.dtype
        The network's.
    device : str or torch.device
        Where the pass runs.
    """
    itemsize = torch.empty((), dtype=dtype).element_size()
    needed = DENSE_ARRAYS * batch * layout.n * layout.width * itemsize
    available = available_memory(device)
    if needed > available:
        raise MemoryError(
            f"The dense engine needs about {needed / 2**30:.1f} GiB for a batch of "
            f"{batch} inputs with n = {layout.n} tokens (memory O(batch n^2)), "
            f"but {available / 2**30:.1f} GiB are available on {device}. Use "
            "engine='structured', which computes the same numbers in O(batch n), "
            "or a smaller batch_size."
        )


class _ProductBlock(nn.Module):
    """What both engines share: the entries they read and write, ``M``, and
    the diagonal bonus (``two_M2``: Lemma 3.1's ``2 M^2``, or another)."""

    def __init__(self, layout, x_entry, y_entry, slot, M, bonus=None):
        super().__init__()
        self.layout, self.x_entry, self.y_entry, self.slot = (
            layout, x_entry, y_entry, slot)  # fmt: skip
        self.M = float(M)
        bonus = 2.0 * self.M**2 if bonus is None else float(bonus)
        self.register_buffer("two_M2", torch.tensor(bonus, dtype=torch.float64))

    def feed_forward(self, s):
        """``W_2 relu(W_1 z_hat + b_1) + b_2`` restricted to slot ``c``: the
        slot goes from ``s`` to ``s - 2 relu(s) + 2 relu(-s) + 2M^2``."""
        return s - 2 * torch.relu(s) + 2 * torch.relu(-s) + self.two_M2

    def extra_repr(self):
        return (f"x_entry={self.x_entry}, y_entry={self.y_entry}, "
                f"slot={self.slot}, M={self.M:g}")  # fmt: skip


class DenseProductBlock(_ProductBlock):
    """Lemma 3.1 computed as written, on full tokens ``(batch, n, n + q + 2)``.

    The weights of :func:`lemma_3_1_weights` are buffers: moved by ``.to()``,
    saved in the state dict, never seen by an optimizer. Memory and time are
    O(n^2) per input; this engine exists to verify the structured one.

    Parameters
    ----------
    layout : TokenLayout
        A full layout: the weights act on all ``n + q + 2`` entries.
    x_entry : int
        Entry that holds ``x_i``.
    y_entry : int
        Entry that holds ``y_i``.
    slot : int
        The empty entry that receives ``-x_i y_i``.
    M : float
        The bound on ``|x_i|`` and ``|y_i|``.
    """

    def __init__(self, layout, x_entry, y_entry, slot, M):
        super().__init__(layout, x_entry, y_entry, slot, M)
        for name, weight in lemma_3_1_weights(
            layout, x_entry, y_entry, slot, M
        ).items():
            self.register_buffer(name, weight)

    def forward(self, Z):
        """Apply the block: attention with a one-hot maximum, then the FFN.

        Parameters
        ----------
        Z : Tensor of shape (batch, n, n + q + 2)
            Tokens.

        Returns
        -------
        Tensor of shape (batch, n, n + q + 2)
            The tokens with ``-x_i y_i`` in the slot.
        """
        q, k, v = Z @ self.W_Q.T, Z @ self.W_K.T, Z @ self.W_V.T
        alpha = q @ k.transpose(-1, -2)  # alpha[b, i, j] = <q_i, k_j>
        Z_hat = Z + one_hot_maximum(alpha) @ v  # z_i + W^V Z m_hat(alpha_i)
        return Z_hat + torch.relu(Z_hat @ self.W_1.T + self.b_1) @ self.W_2.T + self.b_2

    def count_nonzero(self):
        """Count the non-zero entries of the block's weights.

        Returns
        -------
        int
            Those of ``W^Q, W^K, W^V, W_1, W_2, b_1, b_2``: ``2n + 8``.
        """
        names = ("W_Q", "W_K", "W_V", "W_1", "b_1", "W_2", "b_2")
        return sum(int(getattr(self, name).count_nonzero()) for name in names)


class StructuredProductBlock(_ProductBlock):
    """Lemma 3.1 in O(n) per input, on compact tokens ``(batch, n, q + 2)``.

    Equal to :class:`DenseProductBlock` for every input (see the module
    docstring); the entries it reads and writes are given in the compact layout.

    Parameters
    ----------
    layout : TokenLayout
        A compact layout: tokens of ``q + 2`` entries.
    x_entry : int
        Entry that holds ``x_i``.
    y_entry : int
        Entry that holds ``y_i``.
    slot : int
        The empty entry that receives ``-x_i y_i``.
    M : float
        The bound on ``|x_i|`` and ``|y_i|``.
    bonus : float, default=None
        The diagonal bonus, ``2 M^2`` (Lemma 3.1's) when None.
    """

    def forward(self, Z):
        """Apply the block: the same numbers as the dense one, in O(n).

        Parameters
        ----------
        Z : Tensor of shape (batch, n, q + 2)
            Compact tokens.

        Returns
        -------
        Tensor of shape (batch, n, q + 2)
            The tokens with ``-x_i y_i`` in the slot.
        """
        x, y = Z[..., self.x_entry], Z[..., self.y_entry]
        alpha_ii = x * y + self.two_M2
        if Z.shape[-2] > 1:
            # the largest and smallest y_j over the *other* tokens j != i
            top = y.topk(2, dim=-1).values
            low = (-y).topk(2, dim=-1).values.neg()
            max_other = torch.where(y == top[..., :1], top[..., 1:], top[..., :1])
            min_other = torch.where(y == low[..., :1], low[..., 1:], low[..., :1])
            alpha_ij = x * torch.where(x >= 0, max_other, min_other)
            kept = torch.maximum(alpha_ii, alpha_ij)  # max_j alpha_ij
        else:
            kept = alpha_ii
        Z_hat_slot = Z[..., self.slot] + kept  # W^V z_j = e_c for every j
        Z_out = Z.clone()
        Z_out[..., self.slot] = self.feed_forward(Z_hat_slot)
        return Z_out

    def count_nonzero(self):
        """Count the non-zero entries of the equivalent dense weights.

        Returns
        -------
        int
            Those of ``W^Q, W^K, W^V, W_1, W_2, b_1, b_2``: ``2n + 8``.
        """
        full = TokenLayout(self.layout.n, self.layout.q, compact=False)
        to_full = {self.layout.t: full.t, self.layout.one: full.one}
        to_full.update(
            {self.layout.slot(k): full.slot(k) for k in range(1, full.q + 1)}
        )
        weights = lemma_3_1_weights(
            full,
            to_full[self.x_entry],
            to_full[self.y_entry],
            to_full[self.slot],
            self.M,
        )
        return sum(int(w.count_nonzero()) for w in weights.values())
