"""Theorem 3.5: q frozen blocks turn ``t = Fx`` into every power of ``t_i``.

    C^q(x) = beta . concat(T^q(x)) + b,
    T^q = B^q o A^q o ... o B^1 o A^1 o F.

Block ``k`` is Lemma 3.1 with ``x = t_i`` and ``y =`` slot ``k - 1`` (the
constant 1 for ``k = 1``): it writes ``-t_i * (-1)^(k-1) t_i^(k-1)``, that is
``(-1)^k t_i^k``, into slot ``k``. After ``q`` blocks the slots hold
``-t_i, t_i^2, ..., (-1)^q t_i^q``, and ``beta`` is sparse: only the ``n q`` slot
entries of ``concat(T^q(x))`` are read. Only ``F``, ``beta`` and ``b`` are
parameters; the blocks are buffers.
"""

import math

import numpy as np
import torch
from torch import nn

from ._block import (
    DENSE_ARRAYS,
    DenseProductBlock,
    StructuredProductBlock,
    check_dense_fits,
)
from ._boltzmann import (
    BoltzmannDenseBlock,
    BoltzmannStructuredBlock,
    boltzmann_arrays,
    boltzmann_constants,
    boltzmann_error_bound,
)
from ._fused_chain import (
    PowerReadout,
    WeightedMSEReadout,
    power_slots,
    slot_rounding_errors,
)
from ._tokens import TokenLayout, embed

#: Relative margin of each block's ``M`` over the largest ``|x|`` and ``|y|`` it
#: can meet, so that Lemma 3.1's inequality holds strictly, with room for
#: rounding. A larger ``M`` costs precision: the slot is computed as
#: ``2M^2 - (x y + 2M^2)``, with an absolute rounding error of about ``2 M^2 u``.
M_MARGIN = 0.1

_ENGINES = {"dense": DenseProductBlock, "structured": StructuredProductBlock}
_BOLTZMANN_ENGINES = {
    "dense": BoltzmannDenseBlock,
    "structured": BoltzmannStructuredBlock,
}


def block_bounds(radius, degree):
    """Return the bounds ``M_k`` of blocks ``k = 1..q`` for ``|t_i| <= radius``.

    Block ``k`` reads ``x = t_i`` (``|x| <= R``) and ``y = (-1)^(k-1) t_i^(k-1)``
    (``|y| <= R^(k-1)``; ``y = 1`` for ``k = 1``), so Lemma 3.1 holds with
    ``M_k = (1 + M_MARGIN) max(R, R^(k-1))``, where ``R^0 = 1``.

    Parameters
    ----------
    radius : float
        ``R``, the bound on every ``|t_i|``.
    degree : int
        ``q``, the number of blocks.

    Returns
    -------
    list of float
        ``M_1, ..., M_q``.

    Examples
    --------
    >>> from sklearn_attnpoly.attention import block_bounds
    >>> [round(M, 6) for M in block_bounds(2.0, 4)]
    [2.2, 2.2, 4.4, 8.8]
    """
    return [
        (1 + M_MARGIN) * max(radius, radius ** (k - 1)) for k in range(1, degree + 1)
    ]


class AttentionPolynomialNetwork(nn.Module):
    """The model of Theorem 3.5: projection, q frozen blocks, sparse readout.

    Parameters
    ----------
    directions : Tensor of shape (n, d)
        Initial rows ``xi_i`` of ``F``, each of norm at most 1.
    degree : int
        ``q``, the number of encoder blocks.
    radius : float
        Bound on ``||x||`` the blocks are built for; with ``||xi_i|| <= 1`` every
        ``|t_i| <= radius``.
    n_outputs : int, default=1
        Columns of the readout.
    engine : {"structured", "dense"}, default="structured"
        The blocks' computation: the exact ``O(n)`` rewriting, or the literal
        matrices of Lemma 3.1.
    mask : Tensor of shape (n, q) of bool, default=None
        Readout entries allowed to be non-zero; all when ``None``.
    dtype : torch.dtype, default=torch.float64
        Precision of the parameters and the blocks.
    attention : {"hardmax", "boltzmann"}, default="hardmax"
        The blocks' maximum: Lemma 3.1's one-hot maximum, or softmax read as
        the Boltzmann operator (:mod:`~sklearn_attnpoly.attention._boltzmann`),
        which approximates the hardmax network within :meth:`error_bound`.
    inverse_temperature : float, default=40.0
        The Boltzmann blocks' inverse temperature, in units of each block's
        certified gap (``attention="boltzmann"``).
    """

    def __init__(self, directions, degree, radius, n_outputs=1, engine="structured",
                 mask=None, dtype=torch.float64, attention="hardmax",
                 inverse_temperature=40.0):  # fmt: skip
        super().__init__()
        n, _ = directions.shape
        self.degree, self.radius, self.engine = degree, float(radius), engine
        self.attention, self.inverse_temperature = attention, float(inverse_temperature)
        self.layout = TokenLayout(n, degree, compact=engine == "structured")
        self.F = nn.Parameter(torch.as_tensor(directions, dtype=dtype).clone())
        L = self.layout
        bounds = block_bounds(self.radius, degree)
        if attention == "boltzmann":
            self.constants = boltzmann_constants(
                bounds, self.radius, inverse_temperature
            )
            self.blocks = nn.ModuleList(
                _BOLTZMANN_ENGINES[engine](L, L.t, L.slot(k - 1), L.slot(k), M, C, b)
                for k, (M, C, _, b) in enumerate(self.constants, start=1)
            )
        else:
            self.blocks = nn.ModuleList(
                _ENGINES[engine](L, L.t, L.slot(k - 1), L.slot(k), M)
                for k, M in enumerate(bounds, start=1)
            )
        self.beta = nn.Parameter(torch.zeros(n, degree, n_outputs, dtype=dtype))
        self.b = nn.Parameter(torch.zeros(n_outputs, dtype=dtype))
        if mask is None:
            mask = torch.ones(n, degree, dtype=torch.bool)
        self.register_buffer("mask", torch.as_tensor(mask, dtype=torch.bool))
        # the readout of slot k is beta_ik / slot_scale_k: 1 unless a gradient
        # solver starts from zeros, where slots of very different sizes would
        # need steps of very different sizes (see ``readout``)
        self.register_buffer("slot_scale", torch.ones(degree, dtype=dtype))
        self.to(dtype)

    def slots(self, x):
        """Return the slots of ``concat(T^q(x))``: ``(-1)^k t_i^k``.

        The structured engine computes them in one pass, with the same
        numbers (:func:`~sklearn_attnpoly.attention._fused_chain.power_slots`),
        unless a gradient is needed.

        Parameters
        ----------
        x : Tensor of shape (batch, d)
            Inputs, in the scaled units the blocks were built for.

        Returns
        -------
        Tensor of shape (batch, n, q)
            ``[:, i, k-1] = (-1)^k t_i^k``.
        """
        t = x @ self.F.T  # t = Fx, section 2.1
        if self.fused and not (torch.is_grad_enabled() and t.requires_grad):
            return power_slots(t, self._two_M2(), self.block_slots)
        return self.block_slots(t)

    def block_slots(self, t):
        """Return the slots of ``t = Fx``, computed block by block.

        As the paper writes ``B^q o A^q o ... o B^1 o A^1`` on the tokens of
        ``t``.

        Parameters
        ----------
        t : Tensor of shape (batch, n)
            The projections ``t = Fx``.

        Returns
        -------
        Tensor of shape (batch, n, q)
            ``[:, i, k-1] = (-1)^k t_i^k``.
        """
        if self.engine == "dense":
            check_dense_fits(len(t), self.layout, t.dtype, t.device)
        Z = embed(t, self.layout)
        for block in self.blocks:
            Z = block(Z)
        return Z[..., self.layout.slots]

    def forward(self, x, scale_exponent=0):
        """Compute the network's output ``C^q(x)``.

        ``C^q(x)`` is the readout ``beta`` applied to the slots of
        ``concat(T^q(x))``, plus ``b``.

        The structured engine fuses the blocks and the readout
        (:class:`~sklearn_attnpoly.attention._fused_chain.PowerReadout`), with an
        analytic gradient; the dense one contracts the slots of its blocks.

        With ``scale_exponent = j``, the blocks run on ``2^-j x`` and the
        readout multiplies slot ``k`` by ``2^(jk)``:

            C^q(x) = sum_ik 2^(jk) beta_ik s_k((F 2^-j x)_i) + b,

        the same polynomial, computed exactly (up to rounding) for every
        ``||x|| <= 2^j radius``, with the rounding the network has inside its
        radius scaled by ``2^(jk)``: multiplying by a power of two is exact in
        floating point, and the blocks' bounds ``M_k`` need not grow with
        ``x`` (:meth:`rounding_error`). Where ``2^(jk) beta_ik`` overflows, the
        output is not finite.

        Parameters
        ----------
        x : Tensor of shape (batch, d)
            Inputs, in scaled units.
        scale_exponent : int, default=0
            ``j``: the blocks run on ``2^-j x``.

        Returns
        -------
        Tensor of shape (batch, n_outputs)
            The network's output.
        """
        beta = self.readout()
        if scale_exponent:
            x = x * 2.0**-scale_exponent
            scaled = beta * self._power_scales(scale_exponent)[:, None]
            beta = torch.where(beta == 0, beta, scaled)  # 0 * inf stays 0
        if self.fused:
            y = PowerReadout.apply(x, self.F, beta, self._two_M2(), self.block_slots)
            return y + self.b
        return torch.einsum("bnk,nko->bo", self.slots(x), beta) + self.b

    def rounding_error(self, scale_exponent=0):
        """Estimate the rounding error of :meth:`forward`, per output.

        The estimate holds for every ``||x|| <= 2^j radius`` with ``j =
        scale_exponent``.

        With ``R`` the radius, ``u`` the unit roundoff, ``e_k`` the bounds of
        :func:`~sklearn_attnpoly.attention._fused_chain.slot_rounding_errors`
        on the slots of ``|t| <= R`` and ``m = n q + 1`` terms in the readout,

            E = sum_ik 2^(jk) abs(beta_ik) (e_k + k d u R^k + sqrt(m) u R^k)
                + sqrt(m) u abs(b):

        the chain of blocks (bounded), the rounding of ``t = Fx`` carried
        through ``t^k`` (``|dt| <= d u R`` bounded, first order), and the sum of
        the readout (the usual ``sqrt(m) u`` estimate of a sum of ``m``
        rounded terms; ``m u`` is a bound that sums rarely approach). The
        rounding of the input's own scaling is not counted.

        Parameters
        ----------
        scale_exponent : int, default=0
            ``j``, as in :meth:`forward`.

        Returns
        -------
        Tensor of shape (n_outputs,), float64
            The estimate ``E``, in the units of the output.
        """
        R, (n, d), q = self.radius, self.F.shape, self.degree
        dtype = self.F.dtype
        u = torch.finfo(dtype).eps / 2
        m = n * q + 1
        k = torch.arange(1, q + 1, dtype=torch.float64)
        chain = torch.as_tensor(slot_rounding_errors(self._two_M2(), R, dtype))
        slot = chain + (k * d + math.sqrt(m)) * u * R**k
        beta = (self.readout()).detach().double().abs().cpu()
        scales = self._power_scales(scale_exponent).double().cpu()
        error = torch.einsum("nko,k->o", beta, scales * slot)
        return error + math.sqrt(m) * u * self.b.detach().double().abs().cpu()

    def readout(self):
        """Return the readout ``beta`` the network applies, ``(n, q, n_outputs)``.

        The parameter ``self.beta`` masked, and divided per degree by
        ``slot_scale`` (all ones unless set): with ``slot_scale`` the typical
        size of each slot, a gradient step moves every degree's coefficients
        in proportion to what that degree can contribute.

        Returns
        -------
        Tensor of shape (n, q, n_outputs)
            The coefficients of the slots.
        """
        return self.beta * self.mask[..., None] / self.slot_scale[:, None]

    @property
    def fused(self):
        """Whether the chain of blocks runs fused, in one pass.

        True for the structured engine with the one-hot maximum
        (``_fused_chain``); the Boltzmann blocks and the dense engine run
        block by block.
        """
        return self.engine == "structured" and self.attention == "hardmax"

    def error_bound(self, scale_exponent=0):
        """Bound ``|this network - the hardmax network|``, per output.

        Zero for ``attention="hardmax"``. For ``"boltzmann"``, a bound in
        exact arithmetic over ``||x|| <= 2^j radius`` (``j =
        scale_exponent``) from the blocks' certified gaps and the readout's
        coefficients (``_boltzmann.boltzmann_error_bound``).

        Parameters
        ----------
        scale_exponent : int, default=0
            ``j``, as in :meth:`forward`.

        Returns
        -------
        ndarray of shape (n_outputs,)
            The bound, in the units of the output.
        """
        if self.attention == "hardmax":
            return np.zeros(self.b.numel())
        beta = self.readout().detach().double().cpu().numpy()
        directions = self.F.detach().double().cpu().numpy()
        return boltzmann_error_bound(
            beta, self.radius, self.constants, scale_exponent, directions
        )

    def _power_scales(self, scale_exponent):
        """``2^(jk)`` for ``k = 1..q``, infinite where it overflows."""
        orders = torch.arange(1, self.degree + 1, dtype=self.F.dtype)
        return torch.exp2(orders * scale_exponent).to(self.F.device)

    def row_bytes(self):
        """Return the bytes one input row occupies in :meth:`forward`.

        For chunking the rows of a call: the arrays of a dense block,
        ``DENSE_ARRAYS n (n + q + 2)`` entries, or for the structured engine,
        which takes its own cache-sized chunks, the row and its output.

        Returns
        -------
        int
            Bytes per row.
        """
        n, d = self.F.shape
        per_row = d + self.b.numel() + 1
        if self.engine == "dense":
            per_row += DENSE_ARRAYS * n * self.layout.width
        elif self.attention == "boltzmann":
            per_row += boltzmann_arrays(self.degree, gradients=False) * n * n
        return per_row * self.F.element_size()

    def weighted_mse_loss(self, x, y, sample_weight):
        """Compute the training loss and the output in one pass.

        ``loss = sum_b w_b mean_o (C^q(x_b)_o - y_bo)^2 / sum_b w_b``, with the
        row weights ``w = sample_weight`` (structured engine). The gradient is
        computed chunk by chunk with the forward pass
        (:class:`~sklearn_attnpoly.attention._fused_chain.WeightedMSEReadout`),
        with the numbers of :meth:`forward`, the loss and autograd.

        Parameters
        ----------
        x : Tensor of shape (batch, d)
            Inputs, in scaled units.
        y : Tensor of shape (batch, n_outputs)
            Targets.
        sample_weight : Tensor of shape (batch,)
            Row weights.

        Returns
        -------
        loss : Tensor of shape ()
            The weighted loss, with its graph.
        y_pred : Tensor of shape (batch, n_outputs)
            The output, without a graph.
        """
        beta = self.readout()
        return WeightedMSEReadout.apply(
            x, self.F, beta, self.b, y, sample_weight, self._two_M2(), self.block_slots
        )

    def _two_M2(self):
        return [block.two_M2 for block in self.blocks]

    def count_free_parameters(self):
        """Count the entries of ``F``, ``beta`` and ``b``.

        ``n d + (n q + 1)`` per output. Theorem 3.5 bounds this by ``d^(q+1)
        + q d^q + 1`` at ``n = n_q``.

        Returns
        -------
        int
            The number of trainable entries.
        """
        n, d = self.F.shape
        return n * d + (n * self.degree + 1) * self.b.numel()

    def count_nonzero(self):
        """Count the non-zero entries of the blocks and of ``F``, ``beta``, ``b``.

        Theorem 3.5 bounds this by ``d^(q+1) + 3 q d^q + 8q + 1`` at ``n = n_q``.

        Returns
        -------
        int
            The number of non-zero entries.
        """
        blocks = sum(block.count_nonzero() for block in self.blocks)
        params = sum(int(p.count_nonzero()) for p in (self.F, self.readout(), self.b))
        return blocks + params
