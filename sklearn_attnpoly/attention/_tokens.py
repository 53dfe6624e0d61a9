"""Section 2.1: the tokens ``z_i = [t_i, e_i, 0 (q slots), 1]`` in R^{n+q+2}.

Entry 0 holds the global feature ``t_i = xi_i . x``, entries ``1..n`` the
one-hot ``e_i`` that plays the role of a positional encoding, entries
``n+1..n+q`` the slots that the encoder blocks write into and entry ``n+q+1``
the constant 1.

The one-hot part is the identity matrix for every input and no block changes
it, so the structured engine keeps the tokens *compact*: ``[t_i, slots, 1]`` in
R^{q+2}, with ``e_i`` implied by the token's position ``i``. :class:`TokenLayout`
maps the paper's entry indices to either representation.
"""

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class TokenLayout:
    """Entry indices of the tokens of ``n`` features and ``q`` slots.

    Parameters
    ----------
    n : int
        Number of tokens (rows of ``F``).
    q : int
        Number of slots (encoder blocks).
    compact : bool
        Whether the one-hot entries are stored (``False``, the paper's
        ``n + q + 2`` entries) or implied (``True``, ``q + 2`` entries).

    Examples
    --------
    >>> from sklearn_attnpoly.attention import TokenLayout
    >>> layout = TokenLayout(n=3, q=2, compact=False)
    >>> layout.width, layout.t, layout.slot(1), layout.slot(2), layout.one
    (7, 0, 4, 5, 6)
    >>> TokenLayout(n=3, q=2, compact=True).slot(1)
    1
    """

    n: int
    q: int
    compact: bool

    @property
    def width(self):
        """Entries per token: ``n + q + 2`` (or ``q + 2`` when compact)."""
        return self.q + 2 + (0 if self.compact else self.n)

    @property
    def t(self):
        """Entry of ``t_i``."""
        return 0

    @property
    def one(self):
        """Entry of the constant 1."""
        return self.width - 1

    def slot(self, k):
        """Return the entry of a token that holds slot ``k``.

        Parameters
        ----------
        k : int
            The slot, 1-based; slot 0 names the constant 1, the ``y`` of the
            first block.

        Returns
        -------
        int
            Its position in the token.
        """
        if k == 0:
            return self.one
        return k + (0 if self.compact else self.n)

    @property
    def slots(self):
        """Slice of the ``q`` slots."""
        return slice(self.slot(1), self.slot(self.q) + 1)


def embed(t, layout):
    """``F(x) = [z_1, ..., z_n]`` from ``t = Fx``: shape ``(batch, n, width)``.

    Parameters
    ----------
    t : Tensor of shape (batch, n)
    layout : TokenLayout
    """
    batch, n = t.shape
    Z = t.new_zeros(batch, n, layout.width)
    Z[:, :, layout.t] = t
    if not layout.compact:
        Z[:, :, 1 : n + 1] = torch.eye(n, dtype=t.dtype, device=t.device)
    Z[:, :, layout.one] = 1
    return Z
