"""Theorem 3.5's chain of q structured blocks in one pass, with its gradient.

Block ``k`` of the network is Lemma 3.1 with ``x = t_i`` and ``y = s_{k-1}``
(slot ``k - 1``, the constant ``s_0 = 1`` for ``k = 1``). When its diagonal
score wins, the block computes, in floating point,

    s_k = 2M_k^2 - (t s_{k-1} + 2M_k^2),                                  (1)

because the kept score ``a = alpha_ii > 0`` enters the empty slot as ``0 + a =
a`` and the feed-forward layer rounds ``a - 2a + 0`` and ``a - 0 + 2(-a)`` to
``-a`` exactly. Equation (1) gives the same bits as
:class:`~sklearn_attnpoly._block.StructuredProductBlock`, without the tokens,
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
"""

import math

import torch

#: Entries of a ``(rows, n)`` array per chunk: small enough that the handful of
#: arrays one chunk uses stays in the cache.
CHUNK_ENTRIES = 2**17


def _chunk_rows(n_tokens):
    return max(1, CHUNK_ENTRIES // max(1, n_tokens))


def _row_chunks(n_rows, n_tokens):
    step = _chunk_rows(n_tokens)
    for start in range(0, n_rows, step):
        yield slice(start, min(start + step, n_rows))


def _chunk_buffer(x, n, q):
    """Room for the slots of one chunk, ``(rows, q, n)``, reused chunk after
    chunk so that it stays in the cache."""
    return x.new_empty(min(len(x), _chunk_rows(n)), q, n)


def _chain(t, two_M2, out):
    """Write the slots ``s_1..s_q`` of (1) for ``t`` of shape ``(rows, n)`` into
    ``out`` of shape ``(rows, q, n)``."""
    for k, c in enumerate(two_M2):
        s_k = out[:, k]
        if k == 0:  # y = s_0 = 1, and t * 1 is t
            torch.add(t, c, out=s_k)
        else:
            torch.mul(t, out[:, k - 1], out=s_k).add_(c)
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
    u = torch.finfo(dtype).eps / 2
    two_M2 = [float(c) for c in two_M2]

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
    for rows in _row_chunks(*t.shape):
        _chain(t[rows], two_M2, out[rows])
    out = out.transpose(1, 2)
    inside = t.abs().amax(dim=1) <= exact_radius(two_M2, t.dtype)  # not NaN
    rest = (~inside).nonzero().squeeze(1)
    if len(rest):
        out[rest] = block_slots(t[rest])
    return out


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
        beta_flat = beta.transpose(0, 1).reshape(q * n, n_outputs)  # as (q, n)
        radius = exact_radius(two_M2, x.dtype)
        y = x.new_empty(len(x), n_outputs)
        slots = _chunk_buffer(x, n, q)
        a = x.new_empty(len(x))
        for rows in _row_chunks(len(x), n):
            t = x[rows] @ F.T
            a[rows] = t.abs().amax(dim=1)
            _chain(t, two_M2, slots[: len(t)])
            torch.mm(slots[: len(t)].view(len(t), q * n), beta_flat, out=y[rows])
        rest = (~(a <= radius)).nonzero().squeeze(1)  # NaN included
        if len(rest):
            y[rest] = torch.einsum("bnk,nko->bo", block_slots(x[rest] @ F.T), beta)
        ctx.save_for_backward(x, F, beta, rest)
        ctx.two_M2, ctx.block_slots = two_M2, block_slots
        return y

    @staticmethod
    def backward(ctx, grad_y):
        x, F, beta, rest = ctx.saved_tensors
        n, q, n_outputs = beta.shape
        # (-1)^k k beta_k: the coefficients of dy/dt in powers t^(k-1), as
        # contiguous rows of shape (n_outputs, q, n)
        orders = torch.arange(1, q + 1, dtype=beta.dtype, device=beta.device)
        derivative = (beta * (orders * (-1.0) ** orders)[:, None]).permute(2, 1, 0)
        derivative = derivative.contiguous()
        grad_y_rest = grad_y[rest]
        grad_y = grad_y.index_fill(0, rest, 0)  # the blocks give these rows' below
        grad_x = torch.empty_like(x) if ctx.needs_input_grad[0] else None
        grad_F_T = F.new_zeros(F.shape[1], n)
        grad_beta = beta.new_zeros(q * n, n_outputs)
        slots = _chunk_buffer(x, n, q)
        grad_t = x.new_empty(len(slots), n)
        for rows in _row_chunks(len(x), n):
            x_c, g = x[rows], grad_y[rows]
            t = x_c @ F.T
            _chain(t, ctx.two_M2, slots[: len(t)])
            grad_beta.addmm_(slots[: len(t)].view(len(t), q * n).T, g)
            grad_t_c = grad_t[: len(t)].zero_()
            for o in range(n_outputs):
                grad_t_c.addcmul_(_horner(t, derivative[o]), g[:, o, None])
            grad_F_T.addmm_(x_c.T, grad_t_c)
            if grad_x is not None:
                torch.mm(grad_t_c, F, out=grad_x[rows])
        grad_F = grad_F_T.T
        grad_beta = grad_beta.view(q, n, n_outputs).transpose(0, 1)
        if len(rest):
            with torch.enable_grad():
                inputs = [v.detach().requires_grad_() for v in (x[rest], F, beta)]
                x_rest, F_, beta_ = inputs
                y_rest = torch.einsum(
                    "bnk,nko->bo", ctx.block_slots(x_rest @ F_.T), beta_
                )
                grad_x_rest, grad_F_rest, grad_beta_rest = torch.autograd.grad(
                    y_rest, inputs, grad_y_rest
                )
            if grad_x is not None:
                grad_x[rest] = grad_x_rest
            grad_F = grad_F + grad_F_rest
            grad_beta = grad_beta + grad_beta_rest
        return grad_x, grad_F, grad_beta, None, None


def _horner(t, coef):
    """``sum_k coef[k] t^k`` for ``t`` of shape ``(rows, n)`` and ``coef`` of
    shape ``(degree + 1, n)``, by Horner's rule."""
    h = coef[-1].expand_as(t).clone()
    for k in range(len(coef) - 2, -1, -1):
        h.mul_(t).add_(coef[k])
    return h
