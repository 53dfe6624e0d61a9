"""Lemma 3.1 with softmax: the Boltzmann block and its certified error.

Kajitsuka and Sato (2023) read softmax attention as the Boltzmann operator

    boltz_b(a) = sum_j a_j e^(b a_j) / sum_j e^(b a_j) = a . softmax(b a),

a smooth maximum. Replacing Lemma 3.1's one-hot maximum by it, the block's
attention output for token ``i`` is ``sum_j alpha_ij softmax(b alpha_i)_j``
times the value ``e_c``: the scores themselves weight the (all equal) value
vectors. A plain normalised softmax over those equal values would output the
constant ``e_c`` whatever the scores; the construction needs the score of the
winning token, which the Boltzmann operator gives, up to a deficit.

The facts the bound rests on (``n`` scores, top score ``m``, the others
behind it by gaps ``d_j``):

- ``0 <= m - boltz_b(a) = sum_j d_j e^(-b d_j) / (1 + sum_j e^(-b d_j))
  <= W((n - 1) / e) / b <= log(n) / b`` (``W`` the Lambert function; the
  supremum is reached at equal gaps ``(1 + W((n - 1)/e)) / b``);
- with every gap at least ``D``: ``m - boltz_b(a) <= (n - 1) sup_{d >= D}
  d e^(-b d)``, which is ``(n - 1) D e^(-b D)`` when ``b D >= 1``. (The form
  ``(n - 1) D e^(-b D)`` alone fails for ``b D < 1``: two scores, ``b = 1``,
  ``D = 0.1`` give a deficit 0.269, above 0.0905.)

Lemma 3.1's bonus ``2 M^2`` can leave the gap arbitrarily close to 0 (at
``x = M, y_i = -M, y_j = M``), so the Boltzmann block uses ``C = c M^2`` with
``c = 3 > 2``, removed again by the feed-forward layer; block ``k`` then
leads by at least ``Delta_k = C_k - w_k R^k`` (``w_1 = 0``: block 1 reads the
constant 1, every gap is ``C``; ``w_k = 2`` for even ``k``, ``1`` for odd
``k >= 3``, from the signs of the slots it reads). Each block's inverse
temperature is ``b_k = beta / Delta_k``: ``beta`` in units of the block's
certified gap, so one ``beta`` sets every block's sharpness.

Block ``k`` writes ``-t_i y_i + delta_k`` where the exact block writes
``-t_i y_i``, and ``y`` carries the previous blocks' errors, so the slots'
errors obey ``|E_k| <= R |E_(k-1)| + eps_k`` (with the gaps shrunk by ``2 R
|E_(k-1)|``); the readout adds them with its coefficients
(:func:`boltzmann_error_bound`).
"""

import math

import numpy as np
import scipy.special
import torch

from ._block import _ProductBlock, lemma_3_1_weights

#: ``c`` of the bonus ``C = c M^2``; any ``c > 2`` leaves a positive gap.
BONUS_FACTOR = 3.0

#: ``(batch, n, n)``-sized arrays alive at once in a structured Boltzmann
#: block: the scores, their gaps, the weights and their products.
BOLTZMANN_ARRAYS = 5


def boltzmann(scores, inverse_temperature):
    """``boltz_b(a) = a . softmax(b a)`` over the last axis, computed stably.

    In the deficit form ``m - sum_j d_j e^(-b d_j) / sum_j e^(-b d_j)`` with
    ``m`` the row's maximum and ``d_j = m - a_j >= 0``: no exponential
    overflows, and the result is the maximum to the last bit when the others
    are far behind. Gradients flow through it.

    Parameters
    ----------
    scores : Tensor of shape (..., n)
        The scores ``a``.
    inverse_temperature : float or Tensor
        ``b``.

    Returns
    -------
    Tensor of shape (...)
        ``boltz_b(a)`` of each row.
    """
    top = scores.amax(dim=-1, keepdim=True)
    gaps = top - scores
    weights = torch.exp(-inverse_temperature * gaps)
    deficit = (weights * gaps).sum(-1) / weights.sum(-1)
    return top.squeeze(-1) - deficit


def gap_deficit_weight(k):
    """``w_k``: block ``k``'s scores lead by at least ``C_k - w_k R^k``."""
    if k == 1:
        return 0.0
    return 2.0 if k % 2 == 0 else 1.0


def boltzmann_constants(bounds, radius, beta):
    """``(M_k, C_k, Delta_k, b_k)`` of blocks ``k = 1..q`` for ``|t| <= radius``.

    Parameters
    ----------
    bounds : list of float
        ``M_1, ..., M_q`` (:func:`~sklearn_attnpoly.attention.block_bounds`).
    radius : float
        ``R``.
    beta : float
        The inverse temperature in units of each block's certified gap.

    Returns
    -------
    list of tuple of float
        One ``(M_k, C_k, Delta_k, b_k)`` per block.
    """
    out = []
    for k, M in enumerate(bounds, start=1):
        C = BONUS_FACTOR * M * M
        gap = C - gap_deficit_weight(k) * radius**k
        out.append((M, C, gap, beta / gap))
    return out


class BoltzmannDenseBlock(_ProductBlock):
    """Lemma 3.1 with softmax attention, computed as written.

    The matrices of :func:`~sklearn_attnpoly.attention.lemma_3_1_weights` with
    the bonus ``C``; the one-hot maximum becomes ``Z_hat = Z + (alpha *
    softmax(b alpha)) V``: each token's attention output is the Boltzmann
    operator of its scores (module docstring). O(n^2) per input, as the
    reference for :class:`BoltzmannStructuredBlock`.

    Parameters
    ----------
    layout : TokenLayout
        A full layout.
    x_entry : int
        Entry that holds ``x_i``.
    y_entry : int
        Entry that holds ``y_i``.
    slot : int
        The empty entry that receives ``-x_i y_i`` (plus the deficit).
    M : float
        The bound on ``|x_i|`` and ``|y_i|``.
    bonus : float
        ``C``.
    inverse_temperature : float
        ``b``.
    """

    def __init__(self, layout, x_entry, y_entry, slot, M, bonus, inverse_temperature):
        super().__init__(layout, x_entry, y_entry, slot, M, bonus)
        self.inverse_temperature = float(inverse_temperature)
        weights = lemma_3_1_weights(layout, x_entry, y_entry, slot, M, bonus)
        for name, weight in weights.items():
            self.register_buffer(name, weight)

    def forward(self, Z):
        """Apply the block: softmax-weighted scores, then the feed-forward layer.

        Parameters
        ----------
        Z : Tensor of shape (batch, n, n + q + 2)
            Tokens.

        Returns
        -------
        Tensor of shape (batch, n, n + q + 2)
            The tokens with ``-x_i y_i`` plus the deficit in the slot.
        """
        q, k, v = Z @ self.W_Q.T, Z @ self.W_K.T, Z @ self.W_V.T
        alpha = q @ k.transpose(-1, -2)
        P = torch.softmax(self.inverse_temperature * alpha, dim=-1)
        Z_hat = Z + (alpha * P) @ v  # z_i + W^V Z (alpha_i * softmax(b alpha_i))
        return Z_hat + torch.relu(Z_hat @ self.W_1.T + self.b_1) @ self.W_2.T + self.b_2


class BoltzmannStructuredBlock(_ProductBlock):
    """The Boltzmann block in O(n) per token, on compact tokens.

    Token ``i``'s scores are ``alpha_ij = x_i y_j + C [i = j]`` (the one-hot
    parts of the queries and keys meet only on the diagonal); their Boltzmann
    operator goes into the slot, and the feed-forward layer maps ``s`` to
    ``C - s``, as in the dense block.

    Parameters
    ----------
    layout : TokenLayout
        A compact layout.
    x_entry : int
        Entry that holds ``x_i``.
    y_entry : int
        Entry that holds ``y_i``.
    slot : int
        The empty entry that receives ``-x_i y_i`` (plus the deficit).
    M : float
        The bound on ``|x_i|`` and ``|y_i|``.
    bonus : float
        ``C``.
    inverse_temperature : float
        ``b``.
    """

    def __init__(self, layout, x_entry, y_entry, slot, M, bonus, inverse_temperature):
        super().__init__(layout, x_entry, y_entry, slot, M, bonus)
        self.inverse_temperature = float(inverse_temperature)

    def forward(self, Z):
        """Apply the block: the same numbers as the dense one, in O(n) per token.

        Parameters
        ----------
        Z : Tensor of shape (batch, n, q + 2)
            Compact tokens.

        Returns
        -------
        Tensor of shape (batch, n, q + 2)
            The tokens with ``-x_i y_i`` plus the deficit in the slot.
        """
        x, y = Z[..., self.x_entry], Z[..., self.y_entry]
        alpha = x[..., :, None] * y[..., None, :]
        eye = torch.eye(alpha.shape[-1], dtype=torch.bool, device=alpha.device)
        alpha = torch.where(eye, alpha + self.two_M2.to(alpha.dtype), alpha)
        Z_out = Z.clone()
        slot = Z[..., self.slot] + boltzmann(alpha, self.inverse_temperature)
        Z_out[..., self.slot] = self.feed_forward(slot)
        return Z_out


def _gap_term(gap, inverse_temperature):
    """``sup_{d >= gap} d e^(-b d)``: ``d e^(-b d)`` rises up to ``1/b``."""
    d = max(gap, 1.0 / inverse_temperature)
    return d * math.exp(-inverse_temperature * d)


def slot_error_bounds(n, radius, constants):
    """Bounds ``e_k`` on ``|Boltzmann slot k - exact slot k|`` for ``|t| <= R``.

    In exact arithmetic (the rounding of either network is separate, see
    :meth:`AttentionPolynomialNetwork.rounding_error`). ``inf`` where a gap is
    not certified positive.

    Parameters
    ----------
    n : int
        Tokens.
    radius : float
        ``R``.
    constants : list of tuple
        :func:`boltzmann_constants`.

    Returns
    -------
    ndarray of shape (q,)
    """
    sharp = scipy.special.lambertw((n - 1) / math.e).real if n > 1 else 0.0
    bounds, previous = [], 0.0
    for k, (_, C, gap, b) in enumerate(constants, start=1):
        certified = C if k == 1 else gap - 2 * radius * previous
        if certified <= 0 or not math.isfinite(previous):
            bounds.append(math.inf)
            previous = math.inf
            continue
        deficit = min((n - 1) * _gap_term(certified, b), sharp / b)
        previous = radius * previous + deficit
        bounds.append(previous)
    return np.array(bounds)


def boltzmann_error_bound(beta, radius, constants, scale_exponent=0):
    """Bound ``|Boltzmann network - exact network|`` per output over ``||x|| <= R``.

    ``sum_ik 2^(jk) |beta_ik| e_k`` with ``e_k`` of :func:`slot_error_bounds`
    (``j = scale_exponent``: rows run through the blocks at ``2^-j x``).

    Parameters
    ----------
    beta : ndarray of shape (n, q, n_outputs)
        The readout (masked).
    radius : float
        ``R``.
    constants : list of tuple
        :func:`boltzmann_constants`.
    scale_exponent : int, default=0
        ``j``.

    Returns
    -------
    ndarray of shape (n_outputs,)
    """
    beta = np.abs(np.asarray(beta, dtype=np.float64))
    n, q, _ = beta.shape
    e = slot_error_bounds(n, radius, constants)
    scales = 2.0 ** (scale_exponent * np.arange(1, q + 1))
    with np.errstate(invalid="ignore"):  # 0 * inf: a zero coefficient adds 0
        terms = np.where(beta > 0, beta * (scales * e)[None, :, None], 0.0)
    return terms.sum(axis=(0, 1))
