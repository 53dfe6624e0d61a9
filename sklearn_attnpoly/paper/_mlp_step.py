"""The training step of the paper's ReLU networks, in cache-sized row chunks.

The paper's baselines are ``Linear -> ReLU -> ... -> Linear`` networks trained
on the mean squared error with batches of 25000 rows (f2). Autograd keeps each
hidden layer's output for the whole batch: for ``NN_width`` (4368 units) that
is a 25000 x 4368 matrix, 437 MB in float32, written and read several times a
step with only ten multiply-adds per entry, so a step waits on memory. It also
computes the first layer's weight gradient as ``delta^T x`` with a transposed
``delta``, which the CPU BLAS does several times slower than the same product
in the other order.

:func:`relu_mse_step` takes the same gradient chunk by chunk. For the rows
``a_0 = x`` of a chunk, the forward pass is

    z_l = a_{l-1} W_l^T + b_l,    a_l = max(z_l, 0),    y_hat = z_L,

and the backward pass of ``loss = mean((y_hat - y)^2)`` over the batch's
``N k`` entries is

    delta_L = 2 (y_hat - y) / (N k),
    grad W_l += delta_l^T a_{l-1},    grad b_l += sum of the rows of delta_l,
    delta_{l-1} = (delta_l W_l) * [a_{l-1} > 0].

Each chunk's activations fit in the cache (:mod:`~sklearn_attnpoly._chunks`), the mask
``[a > 0]`` overwrites ``a`` once its weight gradient is taken, and the weight
gradients are accumulated as ``a^T delta``. The sums run in another order than
autograd's, so the gradient agrees with autograd's to rounding, not bit for
bit. :class:`ChunkedMLPNet` uses this step in skorch's training loop.
"""

import torch
from torch import nn

from .._chunks import row_chunks, rows_per_chunk
from .._solvers._skorch import OnePassNet


def relu_layers(module):
    """The ``Linear`` layers of ``module`` if it is ``Linear -> ReLU -> ... ->
    Linear`` (an :class:`~torch.nn.Sequential`), else ``None``."""
    if not isinstance(module, nn.Sequential) or len(module) % 2 == 0:
        return None
    layers = list(module)
    linear, relu = layers[::2], layers[1::2]
    if all(type(m) is nn.Linear and m.bias is not None for m in linear) and all(
        type(m) is nn.ReLU for m in relu
    ):
        return linear
    return None


def chunk_rows(layers, element_size):
    """Rows per chunk: a chunk holds each hidden layer's activations and the
    backward pass's array of the same width."""
    hidden = sum(layer.out_features for layer in layers[:-1])
    return rows_per_chunk(2 * element_size * hidden)


def relu_mse_step(layers, X, y, chunk=None):
    """Mean squared error of the ReLU network ``layers`` on ``(X, y)``, with
    its gradient added to each parameter's ``.grad`` as ``backward`` would.

    Parameters
    ----------
    layers : list of torch.nn.Linear
        The network's linear layers, a ReLU after each but the last
        (:func:`relu_layers`).
    X : tensor of shape (n_samples, n_features)
    y : tensor of shape (n_samples, n_outputs)
    chunk : int, default=None
        Rows per chunk; ``None`` takes :func:`chunk_rows`.

    Returns
    -------
    loss : 0-d tensor
        ``mean((y_hat - y) ** 2)``, without a graph.
    y_pred : tensor of shape (n_samples, n_outputs)
        The network's output, without a graph.
    """
    n_rows = X.shape[0]
    dtype, device = layers[0].weight.dtype, layers[0].weight.device
    X, y = X.to(dtype), y.to(dtype)
    chunk = chunk or chunk_rows(layers, layers[0].weight.element_size())
    scale = 2.0 / (n_rows * y.shape[1])

    def zeros(*shape):
        return torch.zeros(shape, dtype=dtype, device=device)

    # weight gradients as (in, out): a^T delta, the fast order for the BLAS
    grad_wt = [zeros(layer.in_features, layer.out_features) for layer in layers]
    grad_b = [zeros(layer.out_features) for layer in layers]
    hidden = [zeros(chunk, layer.out_features) for layer in layers[:-1]]
    back = [zeros(chunk, layer.in_features) for layer in layers[1:]]
    y_pred = torch.empty(y.shape, dtype=dtype, device=device)
    squared = zeros()
    with torch.no_grad():
        for rows in row_chunks(n_rows, chunk):
            x = X[rows]
            m = x.shape[0]
            a = [x]
            for layer, out in zip(layers[:-1], hidden, strict=True):
                z = torch.addmm(layer.bias, a[-1], layer.weight.T, out=out[:m])
                a.append(z.clamp_(min=0))
            out = torch.addmm(layers[-1].bias, a[-1], layers[-1].weight.T)
            y_pred[rows] = out
            delta = out.sub_(y[rows])
            squared += delta.square().sum()
            delta.mul_(scale)
            for i in range(len(layers) - 1, -1, -1):
                grad_wt[i].addmm_(a[i].T, delta)
                grad_b[i].add_(delta.sum(dim=0))
                if i == 0:
                    break
                mask = a[i].sign_()  # [a > 0], as a >= 0 after the ReLU
                if delta.shape[1] == 1:
                    # delta W is an outer product: scale the mask in place
                    delta = mask.mul_(delta).mul_(layers[i].weight)
                else:
                    prod = torch.mm(delta, layers[i].weight, out=back[i - 1][:m])
                    delta = mask.mul_(prod)
    for layer, gw, gb in zip(layers, grad_wt, grad_b, strict=True):
        _accumulate(layer.weight, gw.T.contiguous())
        _accumulate(layer.bias, gb)
    return squared / y.numel(), y_pred


def _accumulate(param, grad):
    if param.grad is None:
        param.grad = grad
    else:
        param.grad.add_(grad)


class ChunkedMLPNet(OnePassNet):
    """:class:`skorch.NeuralNetRegressor` that trains a ReLU network on the
    mean squared error with :func:`relu_mse_step`.

    The step applies when the module is ``Linear -> ReLU -> ... -> Linear``
    (:func:`relu_layers`), the criterion skorch's default
    :class:`~torch.nn.MSELoss` with ``reduction="mean"``, and the target has
    the output's shape; otherwise skorch's own step runs
    (:class:`~sklearn_attnpoly._solvers._training.OnePassNet`).
    """

    def one_pass_step(self, X, y):
        layers = relu_layers(self.module_)
        criterion = self.criterion_
        if (
            layers is None
            or type(criterion) is not nn.MSELoss
            or criterion.reduction != "mean"
            or not isinstance(X, torch.Tensor)
            or X.ndim != 2
            or y.shape != (X.shape[0], layers[-1].out_features)
        ):
            return None
        return relu_mse_step(layers, X, y)
