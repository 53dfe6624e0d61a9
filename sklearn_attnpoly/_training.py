"""The skorch side: the net that holds the module, and what trains it.

Every solver ends with the fitted :class:`AttentionPolynomialNetwork` inside a
:class:`skorch.NeuralNetRegressor`, so prediction, device moves and
``save_params`` / ``load_params`` take one path. The gradient solvers train
``F``, ``beta`` and ``b`` with skorch's own loop and callbacks: one-cycle
learning rate (the paper's protocol: from ``lr / 10`` up to ``lr``), gradient
norm clipping, a projection that keeps every ``||xi_i|| <= 1`` after each step,
and a guard that stops a run whose loss stops being finite.
"""

import math

import torch
from skorch import NeuralNetRegressor
from skorch.callbacks import Callback, GradientNormClipping, LRScheduler, ProgressBar


class WeightedMSELoss(torch.nn.Module):
    """Mean squared error weighted per row.

    The target carries the row weights as its last column, so that skorch's
    batching keeps each weight with its row without a custom loop.
    """

    def forward(self, y_pred, y_weighted):
        y_true, weight = y_weighted[:, :-1], y_weighted[:, -1]
        squared = ((y_pred - y_true) ** 2).mean(dim=1)
        return (weight * squared).sum() / weight.sum()


class ProjectDirections(Callback):
    """After every optimizer step, project each row of ``F`` onto the unit
    ball: the blocks' bound ``|t_i| <= ||x||`` needs ``||xi_i|| <= 1``."""

    def on_batch_end(self, net, training=False, **kwargs):
        if training:
            with torch.no_grad():
                F = net.module_.F
                F.div_(F.norm(dim=1, keepdim=True).clamp(min=1.0))


class NonFiniteLossGuard(Callback):
    """Stop training with a clear error as soon as the loss is NaN or infinite."""

    def on_batch_end(self, net, training=False, loss=None, **kwargs):
        if training and loss is not None and not torch.isfinite(loss).all():
            epoch = len(net.history)
            raise FloatingPointError(
                f"The training loss became {loss.item()} in epoch {epoch}. The "
                "model was not fitted. Lower lr (now "
                f"{net.optimizer_.param_groups[0]['lr']:.3g} at this step), use "
                "solver='lstsq' or a smaller degree, or check the data for "
                "extreme values."
            )


def make_net(
    module,
    *,
    solver,
    lr,
    max_epochs,
    batch_size,
    n_samples,
    device,
    callbacks,
    verbose,
    seed,
):
    """A :class:`skorch.NeuralNetRegressor` around ``module``, initialized.

    For ``solver="lstsq"`` the net only predicts; for ``"sgd"`` and ``"adam"``
    it carries the training callbacks and ``callbacks`` (copies, named by
    class) after them.
    """
    kwargs = {}
    train_callbacks = []
    if solver in ("sgd", "adam"):
        steps = max_epochs * math.ceil(n_samples / batch_size)
        train_callbacks = [
            (
                "one_cycle",
                LRScheduler(
                    policy=torch.optim.lr_scheduler.OneCycleLR,
                    max_lr=lr,
                    total_steps=steps,
                    div_factor=10.0,
                    step_every="batch",
                ),
            ),
            ("clip_grad", GradientNormClipping(gradient_clip_value=1.0)),
            ("project_directions", ProjectDirections()),
            ("finite_loss", NonFiniteLossGuard()),
        ]
        if verbose >= 2:
            train_callbacks.append(("progress", ProgressBar()))
        optimizer = torch.optim.SGD if solver == "sgd" else torch.optim.Adam
        kwargs["optimizer"] = optimizer
        kwargs["iterator_train__shuffle"] = True
        kwargs["iterator_train__generator"] = torch.Generator().manual_seed(seed)
    for i, cb in enumerate(callbacks):
        train_callbacks.append((f"user_{i}_{type(cb).__name__}", cb))
    net = NeuralNetRegressor(
        module,
        criterion=WeightedMSELoss,
        lr=lr,
        max_epochs=max_epochs,
        batch_size=batch_size,
        train_split=None,
        device=device,
        callbacks=train_callbacks,
        verbose=verbose,
        **kwargs,
    )
    return net.initialize()
