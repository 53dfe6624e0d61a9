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
temperature is ``b_1 = beta / C_1`` and ``b_k = (beta + 8) / Delta_k`` for
``k >= 2`` (:data:`LATER_BLOCK_MARGIN`): ``beta`` in units of the block's
certified gap, so one ``beta`` sets every block's sharpness.

Block ``k`` writes ``-t_i y_i + delta_k`` where the exact block writes
``-t_i y_i``, and ``y`` carries the previous blocks' errors, so the slots'
errors obey ``|E_k| <= R |E_(k-1)| + eps_k`` (with the gaps shrunk by ``2 R
|E_(k-1)|``). Block 1's deficit is the same for every token and input, so
the readout turns it into ``delta_1 G_1(x)``, a polynomial whose supremum
over the ball is bounded part by part through Bombieri's norm
(:func:`first_block_gain`, :func:`boltzmann_error_bound`).
"""

import math

import numpy as np
import scipy.special
import torch

from ._block import _ProductBlock, lemma_3_1_weights

#: ``c`` of the bonus ``C = c M^2``; any ``c > 2`` leaves a positive gap.
BONUS_FACTOR = 3.0

#: Blocks ``k >= 2`` run at ``beta + LATER_BLOCK_MARGIN`` in units of their
#: certified gap: their worst-case deficits are then ``e^-8`` (about 3e-4) of
#: block 1's, whose deficit is the same at every input, and the bound follows
#: the error closely (:func:`boltzmann_error_bound`).
LATER_BLOCK_MARGIN = 8.0

#: ``(batch, n, n)``-sized arrays alive at once in a structured Boltzmann
#: block without gradients: the gaps, their weights and a product.
BOLTZMANN_ARRAYS = 3


def boltzmann_arrays(degree, gradients):
    """Count the ``(batch, n, n)`` arrays of a chain of Boltzmann blocks.

    Parameters
    ----------
    degree : int
        The blocks in the chain.
    gradients : bool
        Whether the forward pass keeps what the backward pass needs.

    Returns
    -------
    int
        :data:`BOLTZMANN_ARRAYS` alive at once in a forward pass, or, with
        ``gradients``, the gaps and weights of every block and one block's
        working array.
    """
    return 2 * degree + 1 if gradients else BOLTZMANN_ARRAYS


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
        sharpness = beta if k == 1 else beta + LATER_BLOCK_MARGIN
        out.append((M, C, gap, sharpness / gap))
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
        b, C = self.inverse_temperature, self.two_M2.to(Z.dtype)
        plain_diagonal = x * y
        diagonal = plain_diagonal + C
        # the top score, in O(1) per token: max_j x_i y_j is x_i max(y) or
        # x_i min(y) (rounding is monotone, so it is the largest computed
        # product too); any reference above every score gives the same value
        # and, as boltz_b does not depend on it, the same gradient
        top = torch.maximum(x * y.amax(-1, keepdim=True), x * y.amin(-1, keepdim=True))
        top = torch.maximum(top, diagonal).detach()
        # gaps of the products x_i y_j, the diagonal's bonus left out ...
        gaps = x[..., :, None] * y[..., None, :]
        gaps.neg_().add_(top[..., None])
        weights = torch.mul(gaps, -b).exp_()
        numerator = torch.einsum("...j,...j->...", weights, gaps)
        denominator = weights.sum(-1)
        # ... then the diagonal's term swapped for the one with the bonus
        plain_gap, gap = top - plain_diagonal, top - diagonal
        plain_weight, weight = torch.exp(-b * plain_gap), torch.exp(-b * gap)
        numerator = numerator - plain_weight * plain_gap + weight * gap
        denominator = denominator - plain_weight + weight
        Z_out = Z.clone()
        slot = Z[..., self.slot] + top - numerator / denominator
        Z_out[..., self.slot] = self.feed_forward(slot)
        return Z_out


def _gap_term(gap, inverse_temperature):
    """``sup_{d >= gap} d e^(-b d)``: ``d e^(-b d)`` rises up to ``1/b``."""
    d = max(gap, 1.0 / inverse_temperature)
    return d * math.exp(-inverse_temperature * d)


def first_block_deficit(n, bonus, inverse_temperature):
    """Block 1's deficit, the same for every token and every input.

    Block 1 reads the constant 1, so token ``i``'s scores are ``t_i + C [i =
    j]``: every other score is exactly ``C`` behind, and ``max - boltz_b =
    (n - 1) C e^(-b C) / (1 + (n - 1) e^(-b C))``.

    Parameters
    ----------
    n : int
        Tokens.
    bonus : float
        ``C_1``.
    inverse_temperature : float
        ``b_1``.

    Returns
    -------
    float
    """
    w = (n - 1) * math.exp(-inverse_temperature * bonus)
    return bonus * w / (1.0 + w)


def deficit_bounds(n, radius, constants):
    """Bounds ``eps_k`` on block ``k``'s own deficit, for ``|t| <= R``.

    ``eps_1`` is block 1's deficit itself (:func:`first_block_deficit`); for
    ``k >= 2`` the gaps are at least ``Delta_k - 2 R E_(k-1)``, where
    ``E_k = R E_(k-1) + eps_k`` bounds the slot's accumulated error, and the
    deficit at most ``min((n - 1) sup_(d >= gap) d e^(-b d), W((n-1)/e)/b)``.
    In exact arithmetic (the rounding of either network is separate, see
    :meth:`AttentionPolynomialNetwork.rounding_error`); ``inf`` where a gap is
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
    eps, accumulated = [], 0.0
    for k, (_, C, gap, b) in enumerate(constants, start=1):
        if k == 1:
            deficit = first_block_deficit(n, C, b)
        else:
            certified = gap - 2 * radius * accumulated
            if certified <= 0 or not math.isfinite(accumulated):
                deficit = math.inf
            else:
                deficit = min((n - 1) * _gap_term(certified, b), sharp / b)
        eps.append(deficit)
        accumulated = radius * accumulated + deficit
    return np.array(eps)


def first_block_gain(directions, coefficients, radius):
    """Bound ``sup_(||x|| <= R) |G_1(x)|``, ``G_1 = sum_ik a_ik (-xi_i . x)^(k-1)``.

    Block 1's deficit ``delta_1`` enters slot ``k`` of token ``i`` as
    ``(-t_i)^(k-1) delta_1`` (each later block multiplies its input by
    ``-t_i``), so the readout ``a`` turns it into ``delta_1 G_1(x)``. Each
    homogeneous part ``p_s(x) = sum_i c_i (xi_i . x)^s`` (``c_i = (-1)^s
    a_i,s+1``) is at most ``R^s [p_s]`` on the ball, with Bombieri's norm
    ``[p]^2 = sum_alpha alpha!/s! p_alpha^2``: ``p(x)`` is the Bombieri inner
    product of ``p`` with ``(x . y)^s``, whose norm is ``||x||^s``. For powers
    of linear forms ``<(u . y)^s, (v . y)^s> = (u . v)^s``, so ``[p_s]^2 =
    c^T (Xi Xi^T)^s c`` (elementwise power of the directions' Gram matrix): no
    expansion into monomials. The bound never exceeds the readout's size
    ``sum_ik |a_ik| R^(k-1)``, and equals ``sum_s |c| R^s`` for one direction.

    Parameters
    ----------
    directions : ndarray of shape (n, d)
        Rows of norm at most 1.
    coefficients : ndarray of shape (n, q, n_outputs)
        ``a``.
    radius : float
        ``R``.

    Returns
    -------
    ndarray of shape (n_outputs,)
    """
    a = np.asarray(coefficients, dtype=np.float64)
    n, q, _ = a.shape
    directions = np.asarray(directions, dtype=np.float64)
    crude = np.einsum("ikm,k->m", np.abs(a), radius ** np.arange(q))
    gram = directions @ directions.T
    # rounding: the quadratic form is off by at most about (n + d + q) u
    # (sum_i |c_i|)^2, which the square root turns into this share of sum |c|
    slack = math.sqrt((n + directions.shape[1] + q) * np.finfo(np.float64).eps)
    gain = np.abs(a[:, 0].sum(axis=0))
    power = np.ones_like(gram)
    for s in range(1, q):
        power *= gram
        c = a[:, s]  # the sign (-1)^s does not change the norm
        squared = np.einsum("im,ij,jm->m", c, power, c)
        bombieri = np.sqrt(np.maximum(squared, 0.0)) + slack * np.abs(c).sum(axis=0)
        gain += bombieri * radius**s
    return np.minimum(gain, crude)


def boltzmann_error_bound(beta, radius, constants, scale_exponent=0, directions=None):
    """Bound ``|Boltzmann network - exact network|`` per output over ``||x|| <= R``.

    Slot ``k`` of token ``i`` is off by ``sum_(l <= k) (-t_i)^(k-l) delta_li``
    (block ``l``'s deficit, multiplied by ``-t_i`` in each later block), so
    the output is off by ``delta_1 G_1(x) + sum_(l >= 2) sum_i delta_li
    G_li(x)`` with ``G_li = sum_(k >= l) a_ik (-t_i)^(k-l)`` and ``a_ik =
    2^(jk) beta_ik`` (``j = scale_exponent``: rows run through the blocks at
    ``2^-j x``). The bound is ``delta_1 sup |G_1| + sum_(l >= 2) eps_l sum_i
    sum_(k >= l) |a_ik| R^(k-l)`` (:func:`deficit_bounds`,
    :func:`first_block_gain`; without ``directions``, ``sup |G_1|`` is
    bounded by the readout's size). The blocks after the first run sharper
    (:data:`LATER_BLOCK_MARGIN`), so block 1, whose deficit is the same at
    every input, sets the error and the bound is reached where ``|G_1|`` is.

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
    directions : ndarray of shape (n, d), default=None
        The rows ``xi_i``, for the first block's gain.

    Returns
    -------
    ndarray of shape (n_outputs,)
    """
    a = np.asarray(beta, dtype=np.float64)
    n, q, _ = a.shape
    a = a * (2.0 ** (scale_exponent * np.arange(1, q + 1)))[None, :, None]
    eps = deficit_bounds(n, radius, constants)
    powers = radius ** np.arange(q)
    bound = np.zeros(a.shape[2])
    for l in range(q):  # block l + 1
        # sum_i sum_(k >= l) |a_ik| R^(k-l): zero when nothing downstream reads it
        if l == 0 and directions is not None:
            reach = first_block_gain(directions, a, radius)
        else:
            reach = np.einsum("ikm,k->m", np.abs(a[:, l:]), powers[: q - l])
        with np.errstate(invalid="ignore"):  # 0 * inf: nothing downstream adds 0
            bound += np.where(reach > 0, eps[l] * reach, 0.0)
    return bound
