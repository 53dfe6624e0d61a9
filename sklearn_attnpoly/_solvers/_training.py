"""Training the attention network: the net that holds the module, and what
trains it.

Every solver ends with the fitted :class:`AttentionPolynomialNetwork` inside a
:class:`PolynomialNet` (a :class:`skorch.NeuralNetRegressor`), so prediction,
device moves and ``save_params`` / ``load_params`` take one path. The gradient
solvers train ``F``, ``beta`` and ``b`` with skorch's own loop and callbacks:
the paper's one-cycle learning rate and gradient clipping
(:func:`~sklearn_attnpoly._solvers._skorch.paper_schedule`), a projection that
keeps every ``||xi_i|| <= 1`` after each step, and a guard that stops a run
whose loss stops being finite. Each step computes the loss and its gradient in
one pass over the batch (:class:`PolynomialNet`).
"""

import math

import torch
from skorch.callbacks import Callback, ProgressBar

from ..attention import AttentionPolynomialNetwork
from ._skorch import OnePassNet, batch_loading, paper_schedule


class WeightedMSELoss(torch.nn.Module):
    """Mean squared error weighted per row.

    The target carries the row weights as its last column, so that skorch's
    batching keeps each weight with its row without a custom loop.
    """

    def forward(self, y_pred, y_weighted):
        y_true, weight = y_weighted[:, :-1], y_weighted[:, -1]
        squared = ((y_pred - y_true) ** 2).mean(dim=1)
        return (weight * squared).sum() / weight.sum()


class PolynomialNet(OnePassNet):
    """The net of :class:`AttentionPolynomialNetwork`: its training step takes
    one pass.

    With the structured network and :class:`WeightedMSELoss`, the step
    computes ``y``, the loss and its gradient chunk by chunk in the same pass
    (:meth:`AttentionPolynomialNetwork.weighted_mse_loss`), with the numbers of
    the module's forward, the criterion and their backward passes; the
    backward pass of the module alone would compute ``t = Fx`` and the slots
    of every row a second time, about a third of a step. Otherwise, skorch's
    own step.
    """

    def one_pass_step(self, X, y):
        module = self.module_
        if (
            not isinstance(self.criterion_, WeightedMSELoss)
            or not isinstance(module, AttentionPolynomialNetwork)
            or module.engine != "structured"
        ):
            return None
        loss, y_pred = module.weighted_mse_loss(X, y)
        loss.backward()
        return loss, y_pred


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
    """A :class:`PolynomialNet` around ``module``, initialized.

    For ``solver="lstsq"`` the net only predicts; for ``"sgd"`` and ``"adam"``
    it carries the training callbacks and ``callbacks`` (copies, named by
    class) after them.
    """
    kwargs = {}
    train_callbacks = []
    if solver in ("sgd", "adam"):
        steps = max_epochs * math.ceil(n_samples / batch_size)
        train_callbacks = [
            *paper_schedule(lr, steps, clip_norm=1.0),
            ("project_directions", ProjectDirections()),
            ("finite_loss", NonFiniteLossGuard()),
        ]
        if verbose >= 2:
            train_callbacks.append(("progress", ProgressBar()))
        optimizer = torch.optim.SGD if solver == "sgd" else torch.optim.Adam
        kwargs["optimizer"] = optimizer
    else:
        seed = None  # the net only predicts: nothing to shuffle
    for i, cb in enumerate(callbacks):
        train_callbacks.append((f"user_{i}_{type(cb).__name__}", cb))
    net = PolynomialNet(
        module,
        criterion=WeightedMSELoss,
        lr=lr,
        max_epochs=max_epochs,
        batch_size=batch_size,
        train_split=None,
        device=device,
        callbacks=train_callbacks,
        verbose=verbose,
        **batch_loading(seed),
        **kwargs,
    )
    return net.initialize()
