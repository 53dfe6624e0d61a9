"""The ReLU network's one-pass step (``paper/_mlp_step.py``) against autograd and
skorch."""

import copy

import numpy as np
import pytest
import torch
from skorch import NeuralNetRegressor
from torch import nn

from sklearn_attnpoly._solvers._skorch import batch_loading, one_cycle_schedule
from sklearn_attnpoly.paper._baselines import PaperMLPRegressor, relu_network
from sklearn_attnpoly.paper._mlp_step import (
    ChunkedMLPNet,
    chunk_rows,
    relu_layers,
    relu_mse_step,
)


def _network(n_features, hidden, n_outputs=1, seed=0):
    torch.manual_seed(seed)
    widths = (n_features, *hidden)
    layers = []
    for a, b in zip(widths[:-1], widths[1:], strict=True):
        layers += [nn.Linear(a, b, dtype=torch.float64), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(widths[-1], n_outputs, dtype=torch.float64))


def _autograd(module, X, y):
    module.zero_grad(set_to_none=True)
    y_pred = module(X)
    loss = nn.functional.mse_loss(y_pred, y)
    loss.backward()
    return loss.detach(), y_pred.detach(), [p.grad.clone() for p in module.parameters()]


@pytest.mark.parametrize(
    "hidden, n_outputs, chunk",
    [
        ((40,), 1, 7),  # NN_width's shape: the outer-product branch
        ((6, 5, 4), 1, 16),  # NN_depth's shape
        ((8, 8), 3, 11),  # several outputs: the matrix-product branch
        ((12,), 2, 500),  # one chunk longer than the batch
        ((12,), 1, None),  # the chunk from chunk_rows
    ],
)
def test_step_equals_autograd(hidden, n_outputs, chunk):
    rng = np.random.default_rng(1)
    X = torch.from_numpy(rng.normal(size=(50, 3)))
    y = torch.from_numpy(rng.normal(size=(50, n_outputs)))
    module = _network(3, hidden, n_outputs)
    loss_ref, pred_ref, grads_ref = _autograd(module, X, y)
    module.zero_grad(set_to_none=True)
    loss, pred = relu_mse_step(relu_layers(module), X, y, chunk=chunk)
    assert not loss.requires_grad and not pred.requires_grad
    torch.testing.assert_close(loss, loss_ref, rtol=1e-13, atol=0)
    torch.testing.assert_close(pred, pred_ref, rtol=1e-13, atol=1e-15)
    for p, g_ref in zip(module.parameters(), grads_ref, strict=True):
        torch.testing.assert_close(p.grad, g_ref, rtol=1e-12, atol=1e-15)
        assert p.grad.is_contiguous()


def test_step_adds_to_existing_gradients_as_backward_does():
    X = torch.randn(30, 2, dtype=torch.float64)
    y = torch.randn(30, 1, dtype=torch.float64)
    module = _network(2, (5,))
    *_, grads = _autograd(module, X, y)
    relu_mse_step(relu_layers(module), X, y, chunk=8)  # on top of autograd's
    for p, g in zip(module.parameters(), grads, strict=True):
        torch.testing.assert_close(p.grad, 2 * g, rtol=1e-12, atol=1e-15)


def test_step_at_the_paper_shape_in_float32():
    # NN_width for f2 on a slice of a batch: float32 rounding only
    torch.manual_seed(0)
    module = relu_network(10, (4368,))
    X, y = torch.randn(600, 10), 10 * torch.randn(600, 1)
    loss_ref, _, grads_ref = _autograd(module, X, y)
    module.zero_grad(set_to_none=True)
    loss, _ = relu_mse_step(relu_layers(module), X, y)
    torch.testing.assert_close(loss, loss_ref, rtol=1e-5, atol=0)
    for p, g_ref in zip(module.parameters(), grads_ref, strict=True):
        atol = 1e-5 * float(g_ref.abs().max())
        torch.testing.assert_close(p.grad, g_ref, rtol=1e-4, atol=atol)


def test_relu_layers_recognises_only_relu_networks():
    module = relu_network(3, (4, 5))
    assert relu_layers(module) == [module[0], module[2], module[4]]
    linear = nn.Sequential(nn.Linear(3, 1))  # no hidden layer: a linear model
    assert relu_layers(linear) == [linear[0]]
    rejected = [
        nn.Linear(3, 1),  # not a Sequential
        nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)),
        nn.Sequential(nn.Linear(3, 4), nn.ReLU()),  # ends in a ReLU
        nn.Sequential(nn.Linear(3, 4, bias=False), nn.ReLU(), nn.Linear(4, 1)),
        nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Dropout(), nn.Linear(4, 1)),
    ]
    for module in rejected:
        assert relu_layers(module) is None, module


def test_chunk_rows():
    # float32 rows of NN_width for f2 (4368 activations and their deltas) and
    # of NN_depth (6 x 120), in chunks of 8 MiB; an absurdly wide layer still
    # gets one row at a time
    assert chunk_rows(relu_layers(relu_network(10, (4368,))), 4) == 240
    assert chunk_rows(relu_layers(relu_network(10, (120,) * 6)), 4) == 1456
    assert chunk_rows(relu_layers(relu_network(10, (10**7,))), 4) == 1


def _train(net_class, criterion=nn.MSELoss, n_outputs=1):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(230, 3))
    y = (X[:, :1] ** 2 + X[:, 1:2] * X[:, 2:] + rng.normal(size=(230, 1))).repeat(
        n_outputs, axis=1
    )
    net = net_class(
        copy.deepcopy(_network(3, (16, 16), n_outputs, seed=3)),
        criterion=criterion,
        optimizer=torch.optim.SGD,
        lr=0.05,
        max_epochs=4,
        batch_size=50,
        train_split=None,
        callbacks=one_cycle_schedule(0.05, 4 * 5, clip_norm=0.5),
        verbose=0,
        **batch_loading(7),
    )
    net.fit(X, y)
    return net


@pytest.mark.parametrize("n_outputs", [1, 2])
def test_chunked_net_trains_as_skorch_does(n_outputs):
    # same batches, clipping and schedule: the same run to rounding
    fast = _train(ChunkedMLPNet, n_outputs=n_outputs)
    plain = _train(NeuralNetRegressor, n_outputs=n_outputs)
    np.testing.assert_allclose(
        fast.history[:, "train_loss"], plain.history[:, "train_loss"], rtol=1e-12
    )
    for p, q in zip(fast.module_.parameters(), plain.module_.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-11, atol=1e-13)


def test_chunked_net_leaves_other_criteria_to_skorch():
    # the chunked step knows the squared error only: an L1 loss must train
    # exactly as skorch's own step trains it
    fast = _train(ChunkedMLPNet, criterion=nn.L1Loss)
    plain = _train(NeuralNetRegressor, criterion=nn.L1Loss)
    assert fast.history[:, "train_loss"] == plain.history[:, "train_loss"]
    mse = _train(ChunkedMLPNet)
    assert mse.history[-1, "train_loss"] != fast.history[-1, "train_loss"]


def test_paper_mlp_uses_the_chunked_net():
    X = np.random.default_rng(0).normal(size=(80, 2))
    est = PaperMLPRegressor((6,), max_epochs=2, batch_size=40, random_state=0)
    est.fit(X, X[:, 0] ** 2)
    assert type(est.net_) is ChunkedMLPNet
    assert relu_layers(est.net_.module_) is not None
