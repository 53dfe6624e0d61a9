"""Theorem 3.5's chain of q structured blocks in one pass, with its gradient.

Block ``k`` of the network is Lemma 3.1 with ``x = t_i`` and ``y = s_{k-1}``
(slot ``k - 1``, the constant ``s_0 = 1`` for ``k = 1``). When its diagonal
score wins, the block computes, in floating point,

    s_k = 2M_k^2 - (t s_{k-1} + 2M_k^2),                                  (1)

because the kept score ``a = alpha_ii > 0`` enters the empty slot as ``0 + a =
a`` and the feed-forward layer rounds ``a - 2a + 0`` and ``a - 0 + 2(-a)`` to
``-a`` exactly. Equation (1) gives the same bits as
:class:`~sklearn_attnpoly.attention._block.StructuredProductBlock`, without the tokens,
the top-2 searches or the copies; in exact arithmetic ``s_k = (-1)^k t^k``.

Whether the diagonal wins is decided per input row by a radius that is
conservative in floating point (:func:`exact_radius`). Rows beyond it (inputs
far outside the blocks' bound, NaN, infinities) are computed by the blocks
themselves, forward and backward, so every row gets the numbers and the
gradient of what the blocks compute.

The rows are processed in chunks that stay in the processor's cache, from
``t = Fx`` to the readout ``y = sum_ik beta_ik s_k(t_i)`` (:class:`PowerReadout`),
so no ``(batch, n)`` array reaches main memory during training. The backward
pass is analytic: with ``ds_k/dt = -(s_{k-1} + t ds_{k-1}/dt)``, which is
``(-1)^k k t^(k-1)`` in exact arithmetic,

    dL/dt_bi = sum_o g_bo sum_k (-1)^k k beta_iko t_bi^(k-1),
    dL/dbeta_iko = sum_b g_bo s_k(t_bi),      dL/dF = (dL/dt)^T x,

the first by Horner's rule in ``t`` and the second from recomputed slots.
For training, :class:`WeightedMSEReadout` computes the weighted squared error
and this gradient in the same pass as ``y``, so that ``t`` and the slots are
computed once per step, not twice.
"""

import functools
import math

import numpy as np
import torch

from .._chunks import row_chunks, rows_per_chunk
from ._block import STRUCTURED_ARRAYS


def slot_signs(degree):
    """Return the signs ``(-1)^k`` of the slots ``k = 1..q``.

    Block ``k`` of the chain writes ``s_k = (-1)^k t^k`` into slot ``k``.

    Parameters
    ----------
    degree : int
        ``q``.

    Returns
    -------
    ndarray of shape (q,)
        ``-1, 1, -1, ...`` as floats.

    Examples
    --------
    >>> from sklearn_attnpoly.attention import slot_signs
    >>> slot_signs(3)
    array([-1.,  1., -1.])
    """
    return np.array([(-1.0) ** k for k in range(1, degree + 1)])


def _chunk_rows(n, q, dtype):
    """Rows per chunk: a chunk holds ``t``, its ``q`` slots and one more
    ``(rows, n)`` array (:class:`_ChunkBuffers`)."""
    itemsize = torch.empty((), dtype=dtype).element_size()
    return rows_per_chunk((q + 2) * n * itemsize)


def _row_chunks(x, n, q):
    return row_chunks(len(x), _chunk_rows(n, q, x.dtype))


class _ChunkBuffers:
    """Arrays for one chunk of rows, reused chunk after chunk so that they stay
    in the cache and no chunk allocates.

    ``t`` is ``(rows, n)`` and ``slots`` ``(rows, q, n)``, so that the slots of
    a chunk are one ``(rows, q n)`` matrix for the readout; ``extra`` is one
    more ``(rows, n)`` array: ``|t|``, then ``dy/dt``.
    """

    def __init__(self, x, n, q):
        rows = min(len(x), _chunk_rows(n, q, x.dtype))
        self.rows = rows
        self.t = x.new_empty(rows, n)
        self.slots = x.new_empty(rows, q, n)
        self.extra = x.new_empty(rows, n)
        # the views of a full chunk, made once: a view costs about as much as
        # a small operation, and the chain takes q of them per chunk
        self._full = self._views(rows)

    def _views(self, m):
        slots = self.slots[:m]
        slot_list = [slots[:, k] for k in range(slots.shape[1])]
        return self.t[:m], slots, slot_list, self.extra[:m]

    def views(self, m):
        """``(t, slots, [slot_1, ..., slot_q], extra)`` for a chunk of ``m`` rows."""
        return self._full if m == self.rows else self._views(m)


def _chain(t, two_M2, out):
    """Write the slots ``s_1..s_q`` of (1) for ``t`` of shape ``(rows, n)`` into
    ``out``, a list of ``q`` arrays of shape ``(rows, n)``.

    Each step is a product, a sum and a difference, three operations rounded
    one by one as the blocks round them (a fused multiply-add would round
    ``t s_{k-1} + 2M_k^2`` once and give other bits).
    """
    for k, (c, s_k) in enumerate(zip(two_M2, out, strict=True)):
        if k == 0:  # y = s_0 = 1, and t * 1 is t
            torch.add(t, c, out=s_k)
        else:
            torch.mul(t, out[k - 1], out=s_k).add_(c)
        torch.sub(c, s_k, out=s_k)


def exact_radius(two_M2, dtype):
    """A radius ``a`` such that (1) is exact for every row with ``max_i |t_i| <= a``.

    Lemma 3.1's off-diagonal score ``alpha_ij = t_i y_j`` and the diagonal one
    ``alpha_ii = t_i y_i + 2M^2`` are bounded, with ``a = max_i |t_i|`` and
    ``Y >= max_j |y_j|``, by ``|alpha_ij| <= a Y (1 + u)`` and ``alpha_ii >=
    (2M^2 - a Y (1 + u))(1 - u)``, where ``u`` is the unit roundoff. When
    ``a Y < M^2 / (1 + 8u)`` in every block, each block keeps its diagonal
    score, which is positive, and (1) holds exactly. ``Y`` starts at 1
    (``s_0 = 1``) and follows the rounding of (1): ``|s_k| <= (a Y (1 + u) +
    (a Y (1 + u) + 2M^2) u)(1 + u)``, which the slack factors below bound with
    room for their own rounding in float64. The test is monotone in ``a``, so
    the largest passing ``a`` is found by bisection. Inside the bound
    (``a, Y < M / (1 + M_MARGIN)``) it holds with a 21 % margin.
    """
    return _exact_radius(tuple(float(c) for c in two_M2), dtype)


@functools.lru_cache(maxsize=64)
def _exact_radius(two_M2, dtype):
    # a bisection of some 100 steps, for every forward pass of a network whose
    # blocks never change: computed once per set of blocks
    u = torch.finfo(dtype).eps / 2

    def exact(a):
        Y = 1.0
        for c in two_M2:
            aY = a * Y * (1 + 4 * u)
            if not aY * (1 + 8 * u) < c / 2:
                return False
            Y = (aY + (aY + c) * 2 * u) * (1 + 4 * u)
        return True

    if not exact(0.0):
        return -math.inf
    low, high = 0.0, 1.0
    while exact(high) and high < 1e300:
        low, high = high, 2 * high
    for _ in range(64):
        middle = (low + high) / 2
        low, high = (middle, high) if exact(middle) else (low, middle)
    return low


def slot_rounding_errors(two_M2, a, dtype):
    """Bound ``e_k`` on ``|s_k - (-1)^k t^k|`` for the slots (1) of ``|t| <= a``.

    For ``a`` up to :func:`exact_radius`, with ``u`` the unit roundoff and
    ``P_k = a (a^(k-1) + e_{k-1})`` a bound on the product ``|t s_{k-1}|``,

        e_0 = 0,   e_k = a e_{k-1} + u P_k + min(u (2M_k^2 + P_k), P_k),      (2)

    each term taken with a factor ``1 + 2u`` for the rounding of the bound
    itself. Equation (1) rounds the product ``p = t s_{k-1}`` (at most ``u
    |p|``) and the sum ``p + 2M_k^2`` (at most ``u (2M_k^2 + |p|)``, and at
    most ``|p|``, since ``2M_k^2`` is itself a float that close); the
    difference ``2M_k^2 - (p + 2M_k^2)`` is exact, since inside the exact
    radius ``|p| < M_k^2`` puts the sum within a factor of 2 of ``2M_k^2``
    (Sterbenz's lemma). The error ``e_{k-1}`` of the factor ``s_{k-1}`` is
    multiplied by ``|t| <= a``. The term ``2 u M_k^2`` is what the
    construction costs: a plain product rounds at ``u a^k``, and ``M_k^2``
    outgrows ``a^k`` in late blocks and for a large guard radius
    (``docs/theory.rst``).

    Parameters
    ----------
    two_M2 : sequence of float
        ``2 M_k^2`` of each block.
    a : float
        The bound on ``|t|``.
    dtype : torch.dtype
        The precision of the chain (its unit roundoff ``u``).

    Returns
    -------
    ndarray of shape (q,)
        ``e_1, ..., e_q``.

    Examples
    --------
    >>> import torch
    >>> from sklearn_attnpoly.attention import block_bounds
    >>> from sklearn_attnpoly.attention._fused_chain import slot_rounding_errors
    >>> two_M2 = [2 * M**2 for M in block_bounds(2.0, 3)]
    >>> u = torch.finfo(torch.float64).eps / 2
    >>> (slot_rounding_errors(two_M2, 1.0, torch.float64) / u).round(1)
    array([11.7, 23.4, 64.1])
    """
    u = torch.finfo(dtype).eps / 2
    errors, e = [], 0.0
    for k, c in enumerate(two_M2, start=1):
        P = a * (a ** (k - 1) + e) * (1 + 2 * u)
        e = (a * e + u * P + min(u * (float(c) + P), P)) * (1 + 2 * u)
        errors.append(e)
    return np.array(errors)


def power_slots(t, two_M2, block_slots):
    """The slots of Theorem 3.5's chain, ``(rows, n, q)``, without a graph.

    Parameters
    ----------
    t : Tensor of shape (rows, n)
        ``t = Fx``.
    two_M2 : list of Tensor
        ``2 M_k^2`` of blocks ``k = 1..q``, 0-dimensional, of ``t``'s dtype.
    block_slots : callable
        ``t -> (rows, n, q)``, the slots computed by the blocks themselves;
        used for the rows beyond :func:`exact_radius`.

    Returns
    -------
    Tensor of shape (rows, n, q)
        ``[:, i, k-1] = s_k(t_i)``, equal to what the blocks compute.
    """
    out = t.new_empty(len(t), len(two_M2), t.shape[1])
    for rows in _row_chunks(t, t.shape[1], len(two_M2)):
        chunk = out[rows]
        _chain(t[rows], two_M2, [chunk[:, k] for k in range(len(two_M2))])
    out = out.transpose(1, 2)
    inside = t.abs().amax(dim=1) <= exact_radius(two_M2, t.dtype)  # not NaN
    rest = (~inside).nonzero().squeeze(1)
    if len(rest):
        out[rest] = block_slots(t[rest])
    return out


def _readout_chunk(x_c, F, two_M2, beta_flat, views, a_c, y_c):
    """``t``, its row maxima ``a_c = max_i |t_i|``, the slots (into ``views``)
    and ``y_c = slots . beta`` for one chunk of rows ``x_c``."""
    t, slots, slot_list, abs_t = views
    torch.mm(x_c, F.T, out=t)
    # max_i |t_i|, NaN included (vector_norm(t, inf) is 10 times slower)
    torch.amax(torch.abs(t, out=abs_t), dim=1, out=a_c)
    _chain(t, two_M2, slot_list)
    torch.mm(slots.view(len(t), -1), beta_flat, out=y_c)


def _gradient_chunk(x_c, g, F, derivative, views, grad_F_T, grad_beta, grad_x_c):
    """Add one chunk's ``dL/dF^T`` and ``dL/dbeta`` (as ``(q n, n_outputs)``) to
    ``grad_F_T`` and ``grad_beta``, and write its ``dL/dx`` into ``grad_x_c``
    (when not None), from ``g = dL/dy`` and the chunk's ``t`` and slots."""
    t, slots, _, dy_dt = views
    n_outputs = g.shape[1]
    grad_beta.addmm_(slots.view(len(t), -1).T, g)
    for o in range(n_outputs):
        _horner(t, derivative[o], out=dy_dt)
        # dL/dt = g_o dy_o/dt scales whole rows: it is folded into the
        # (rows, d) factors instead of taking a pass over (rows, n)
        g_o = g[:, o, None]
        grad_F_T.addmm_((x_c * g_o).T, dy_dt)
        if grad_x_c is None:
            continue
        if n_outputs == 1:
            torch.mm(dy_dt, F, out=grad_x_c).mul_(g_o)
        else:
            grad_x_c += (dy_dt @ F).mul_(g_o)


def _derivative(beta):
    """``(-1)^k k beta_k``: the coefficients of ``dy/dt`` in powers
    ``t^(k-1)``, as contiguous rows of shape ``(n_outputs, q, n)``."""
    q = beta.shape[1]
    orders = torch.arange(1, q + 1, dtype=beta.dtype, device=beta.device)
    signs = torch.as_tensor(slot_signs(q), dtype=beta.dtype, device=beta.device)
    derivative = (beta * (orders * signs)[:, None]).permute(2, 1, 0)
    return derivative.contiguous()


def _flat(beta):
    n, q, n_outputs = beta.shape
    return beta.transpose(0, 1).reshape(q * n, n_outputs)  # as (q, n)


def _unflat(grad_beta, beta):
    n, q, n_outputs = beta.shape
    return grad_beta.view(q, n, n_outputs).transpose(0, 1)


def _add_block_gradients(grads, rest, x, F, beta, block_slots, grad_y_rest):
    """Add the gradient of the rows ``rest``, beyond the exact radius, to
    ``grads = (dL/dx or None, dL/dF, dL/dbeta)`` and return the sums.

    For those rows ``y = sum_ik beta_ik s_k`` with the blocks' own slots,
    differentiated by autograd for ``dL/dy = grad_y_rest``; their ``dL/dx``
    rows are written into ``dL/dx`` (where the chunked pass left zeros).
    """
    grad_x, grad_F, grad_beta = grads
    with torch.enable_grad():
        inputs = [v.detach().requires_grad_() for v in (x[rest], F, beta)]
        x_, F_, beta_ = inputs
        y_rest = torch.einsum("bnk,nko->bo", block_slots(x_ @ F_.T), beta_)
        grad_x_rest, grad_F_rest, grad_beta_rest = torch.autograd.grad(
            y_rest, inputs, grad_y_rest
        )
    if grad_x is not None:
        grad_x[rest] = grad_x_rest
    return grad_x, grad_F + grad_F_rest, grad_beta + grad_beta_rest


class PowerReadout(torch.autograd.Function):
    """``y_bo = sum_i sum_k beta_iko s_k((F x_b)_i)``: Theorem 3.5 without ``b``.

    ``apply(x, F, beta, two_M2, block_slots)`` with ``x`` of shape ``(rows,
    d)``, ``F`` of shape ``(n, d)``, ``beta`` of shape ``(n, q, n_outputs)``
    and ``two_M2``, ``block_slots`` as in :func:`power_slots`; returns
    ``(rows, n_outputs)``. Nothing larger than the inputs is saved for the
    backward pass: it recomputes ``t`` and the slots chunk by chunk.
    """

    @staticmethod
    def forward(ctx, x, F, beta, two_M2, block_slots):
        n, q, n_outputs = beta.shape
        beta_flat = _flat(beta)
        y = x.new_empty(len(x), n_outputs)
        a = x.new_empty(len(x))
        buffers = _ChunkBuffers(x, n, q)
        for rows in _row_chunks(x, n, q):
            views = buffers.views(rows.stop - rows.start)
            _readout_chunk(x[rows], F, two_M2, beta_flat, views, a[rows], y[rows])
        rest = (~(a <= exact_radius(two_M2, x.dtype))).nonzero().squeeze(1)
        # NaN included; the blocks hold O(n) entries per token: a chunk at a time
        block_rows = rows_per_chunk(STRUCTURED_ARRAYS * n * (q + 2) * x.element_size())
        for part in row_chunks(len(rest), block_rows):
            rows = rest[part]
            y[rows] = torch.einsum("bnk,nko->bo", block_slots(x[rows] @ F.T), beta)
        ctx.save_for_backward(x, F, beta, rest)
        ctx.two_M2, ctx.block_slots = two_M2, block_slots
        return y

    @staticmethod
    def backward(ctx, grad_y):
        x, F, beta, rest = ctx.saved_tensors
        n, q, n_outputs = beta.shape
        derivative = _derivative(beta)
        grad_y_rest = grad_y[rest]
        grad_y = grad_y.index_fill(0, rest, 0)  # the blocks give these rows' below
        need_x = ctx.needs_input_grad[0]
        grad_x = x.new_zeros(x.shape) if need_x else None
        grad_F_T = F.new_zeros(F.shape[1], n)
        grad_beta = beta.new_zeros(q * n, n_outputs)
        buffers = _ChunkBuffers(x, n, q)
        for rows in _row_chunks(x, n, q):
            views = buffers.views(rows.stop - rows.start)
            t = views[0]
            torch.mm(x[rows], F.T, out=t)
            _chain(t, ctx.two_M2, views[2])
            grad_x_c = None if grad_x is None else grad_x[rows]
            _gradient_chunk(
                x[rows], grad_y[rows], F, derivative, views, grad_F_T, grad_beta,
                grad_x_c,
            )  # fmt: skip
        grads = grad_x, grad_F_T.T, _unflat(grad_beta, beta)
        if len(rest):
            grads = _add_block_gradients(
                grads, rest, x, F, beta, ctx.block_slots, grad_y_rest
            )
        return *grads, None, None


class WeightedMSEReadout(torch.autograd.Function):
    """The training loss of the network and its gradient, in one pass.

    ``apply(x, F, beta, b, target, weight, two_M2, block_slots)``, with ``x``,
    ``F``, ``beta``, ``two_M2`` and ``block_slots`` as in
    :class:`PowerReadout`, ``b`` of shape ``(n_outputs,)``, ``target`` of
    shape ``(rows, n_outputs)`` and the row weights ``weight`` of shape
    ``(rows,)``, returns
    ``(loss, y)``: ``y = PowerReadout(x) + b`` and the loss of
    :class:`~sklearn_attnpoly._solvers._training.WeightedMSELoss`,

        L = sum_b w_b mean_o (y_bo - z_bo)^2 / sum_b w_b,

    with the same numbers. ``dL/dy_bo = 2 w_b (y_bo - z_bo) / (n_outputs sum_b
    w_b)`` is known as soon as a chunk's ``y`` is, so the chunk's slots, still
    in the cache, give its share of the gradient at once: ``t`` and the slots
    are computed once per step instead of again in a backward pass. The
    gradient is the one :class:`PowerReadout`'s backward pass gives for that
    ``dL/dy``; it is kept for the backward pass (the size of ``F``, ``beta``
    and ``b``) and scaled there by ``dL/dloss``. ``y`` carries no gradient.
    """

    @staticmethod
    def forward(ctx, x, F, beta, b, target, weight, two_M2, block_slots):
        n, q, n_outputs = beta.shape
        total = weight.sum()
        # dL/dy rounded as autograd rounds WeightedMSELoss's backward pass:
        # (1 / sum w) w_b / n_outputs, times 2 (y - z)
        row_scale = (1.0 / total * weight / n_outputs)[:, None]
        radius = exact_radius(two_M2, x.dtype)
        beta_flat, derivative = _flat(beta), _derivative(beta)
        need_x = ctx.needs_input_grad[0]
        y = x.new_empty(len(x), n_outputs)
        g = x.new_empty(len(x), n_outputs)
        a = x.new_empty(len(x))
        grad_x = x.new_zeros(x.shape) if need_x else None
        grad_F_T = F.new_zeros(F.shape[1], n)
        grad_beta = beta.new_zeros(q * n, n_outputs)
        zero = x.new_zeros(())
        buffers = _ChunkBuffers(x, n, q)
        for rows in _row_chunks(x, n, q):
            views = buffers.views(rows.stop - rows.start)
            x_c, y_c, g_c = x[rows], y[rows], g[rows]
            _readout_chunk(x_c, F, two_M2, beta_flat, views, a[rows], y_c)
            y_c.add_(b)
            torch.mul(row_scale[rows], 2 * (y_c - target[rows]), out=g_c)
            # rows beyond the radius get the blocks' gradient below
            inside = (a[rows] <= radius)[:, None]
            grad_x_c = None if grad_x is None else grad_x[rows]
            _gradient_chunk(
                x_c, torch.where(inside, g_c, zero), F, derivative, views, grad_F_T,
                grad_beta, grad_x_c,
            )  # fmt: skip
        grads = grad_x, grad_F_T.T, _unflat(grad_beta, beta)
        rest = (~(a <= radius)).nonzero().squeeze(1)
        if len(rest):  # NaN included
            slots_rest = block_slots(x[rest] @ F.T)
            y[rest] = torch.einsum("bnk,nko->bo", slots_rest, beta) + b
            g[rest] = row_scale[rest] * (2 * (y[rest] - target[rest]))
            grads = _add_block_gradients(grads, rest, x, F, beta, block_slots, g[rest])
        loss = (weight * ((y - target) ** 2).mean(dim=1)).sum() / total
        ctx.grads = *grads, g.sum(0)
        ctx.mark_non_differentiable(y)
        return loss, y

    @staticmethod
    def backward(ctx, grad_loss, grad_y):
        scaled = [None if v is None else grad_loss * v for v in ctx.grads]
        return *scaled, None, None, None, None


def _horner(t, coef, out):
    """``sum_k coef[k] t^k`` for ``t`` of shape ``(rows, n)`` and ``coef`` of
    shape ``(degree + 1, n)``, by Horner's rule, into ``out``.

    One fused multiply-add per degree (``addcmul``): this is the gradient, not
    the blocks' values, so its rounding need not follow theirs.
    """
    if len(coef) == 1:
        return out.copy_(coef[0].expand_as(t))
    torch.addcmul(coef[-2], coef[-1], t, out=out)
    for k in range(len(coef) - 3, -1, -1):
        torch.addcmul(coef[k], out, t, out=out)
    return out
