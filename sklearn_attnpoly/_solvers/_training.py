"""Training the attention network: the net that holds the module, and what
trains it.

Every solver ends with the fitted :class:`AttentionPolynomialNetwork` inside a
:class:`WeightedRegressorNet` (a :class:`skorch.NeuralNetRegressor`), so prediction,
device moves and ``save_params`` / ``load_params`` take one path. The gradient
solvers train ``F``, ``beta`` and ``b`` with skorch's own loop and callbacks:
the paper's one-cycle learning rate and gradient clipping
(:func:`~sklearn_attnpoly._solvers._skorch.one_cycle_schedule`), a projection that
keeps every ``||xi_i|| <= 1`` after each step, a guard that stops a run
whose loss stops being finite, and one that keeps the best epoch of a run
that diverges (:class:`~sklearn_attnpoly._solvers._skorch.KeepBestParameters`).
Each step computes the loss and its gradient in one pass over the batch
(:class:`WeightedRegressorNet`).
"""

import math
from collections.abc import Mapping

import numpy as np
import torch
from skorch.callbacks import Callback, ProgressBar
from skorch.utils import to_tensor

from ..attention import AttentionPolynomialNetwork
from ._skorch import (
    KeepBestParameters,
    OnePassNet,
    batch_loading,
    one_cycle_schedule,
    training_record,
)


class WeightedMSELoss(torch.nn.Module):
    """Mean squared error weighted per row:
    ``sum_b w_b mean_o (y_pred_bo - y_bo)^2 / sum_b w_b`` (all weights 1 when
    ``sample_weight`` is None)."""

    def forward(self, y_pred, y_true, sample_weight=None):
        squared = ((y_pred - y_true) ** 2).mean(dim=1)
        if sample_weight is None:
            return squared.mean()
        return (sample_weight * squared).sum() / sample_weight.sum()


class WeightedRegressorNet(OnePassNet):
    """The net of :class:`AttentionPolynomialNetwork`: row weights the skorch
    way, and a training step in one pass.

    The rows come as ``X = {"X": rows, "sample_weight": weights}``, so that
    skorch batches each weight with its row and ``y`` stays the target (user
    callbacks such as ``EpochScoring("r2", on_train=True)`` see it as it is).
    The module gets ``X["X"]`` (:meth:`infer`); the criterion gets the
    weights (:meth:`get_loss`).

    With the structured network and :class:`WeightedMSELoss`, the step
    computes ``y``, the loss and its gradient chunk by chunk in the same pass
    (:meth:`AttentionPolynomialNetwork.weighted_mse_loss`), with the numbers of
    the module's forward, the criterion and their backward passes; the
    backward pass of the module alone would compute ``t = Fx`` and the slots
    of every row a second time, about a third of a step. Otherwise, skorch's
    own step.
    """

    def infer(self, x, **fit_params):
        if isinstance(x, Mapping):
            x = x["X"]  # the weights are the loss's, not the module's
        return super().infer(x, **fit_params)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        if not (
            isinstance(X, Mapping) and isinstance(self.criterion_, WeightedMSELoss)
        ):
            return super().get_loss(y_pred, y_true, X=X, training=training)
        y_true = to_tensor(y_true, device=self.device)
        weight = to_tensor(X["sample_weight"], device=self.device)
        return self.criterion_(y_pred, y_true, weight)

    def one_pass_step(self, X, y):
        module = self.module_
        if (
            not isinstance(X, Mapping)
            or not isinstance(self.criterion_, WeightedMSELoss)
            or not isinstance(module, AttentionPolynomialNetwork)
            or not module.fused
        ):
            return None
        loss, y_pred = module.weighted_mse_loss(X["X"], y, X["sample_weight"])
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
    """Stop training with a clear error as soon as the loss is NaN or infinite.

    Parameters
    ----------
    advice : str, default="use solver='lstsq' or a smaller degree, "
        What else the error suggests, after lowering ``lr``.
    """

    def __init__(self, advice="use solver='lstsq' or a smaller degree, "):
        self.advice = advice

    def on_batch_end(self, net, training=False, loss=None, **kwargs):
        if training and loss is not None and not torch.isfinite(loss).all():
            epoch = len(net.history)
            raise FloatingPointError(
                f"The training loss became {loss.item()} in epoch {epoch}. The "
                "model was not fitted. Lower lr (now "
                f"{net.optimizer_.param_groups[0]['lr']:.3g} at this step), "
                f"{self.advice}or check the data for extreme values."
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
    """A :class:`WeightedRegressorNet` around ``module``, initialized.

    For ``solver="lstsq"`` the net only predicts, and has no optimizer
    (:class:`~sklearn_attnpoly._solvers._skorch.OnePassNet`); for ``"sgd"``
    and ``"adam"`` it carries the training callbacks and ``callbacks``
    (copies, named by class) after them.
    """
    optimizer = None
    train_callbacks = []
    if solver in ("sgd", "adam"):
        steps = max_epochs * math.ceil(n_samples / batch_size)
        train_callbacks = [
            *one_cycle_schedule(lr, steps, clip_norm=1.0),
            ("project_directions", ProjectDirections()),
            ("finite_loss", NonFiniteLossGuard()),
            ("keep_best", KeepBestParameters()),
        ]
        if verbose >= 2:
            train_callbacks.append(("progress", ProgressBar()))
        optimizer = torch.optim.SGD if solver == "sgd" else torch.optim.Adam
    else:
        seed = None  # the net only predicts: nothing to shuffle
    for i, cb in enumerate(callbacks):
        train_callbacks.append((f"user_{i}_{type(cb).__name__}", cb))
    net = WeightedRegressorNet(
        module,
        criterion=WeightedMSELoss,
        optimizer=optimizer,
        lr=lr,
        max_epochs=max_epochs,
        batch_size=batch_size,
        train_split=None,
        device=device,
        callbacks=train_callbacks,
        verbose=verbose,
        **batch_loading(seed),
    )
    return net.initialize()


#: Rows the slots' sizes are measured on (see :func:`slot_sizes`).
SLOT_SCALE_ROWS = 10000


@torch.no_grad()
def slot_sizes(module, X, sample_weight, rng):
    """Each degree's weighted root-mean-square slot on (up to
    :data:`SLOT_SCALE_ROWS` of) the rows ``X``: the network's ``slot_scale``
    for training from a zero readout.

    In the ball's units the slot of degree k is of size about ``|t|^k``, so
    from a zero readout the coefficients of high degrees need far larger
    values, and far more steps, than those of low ones. Dividing each slot by
    its size gives every coefficient a target of order one.

    Returns
    -------
    ndarray of shape (q,)
        Positive sizes (1 where a degree's slots are all zero).
    """
    rows = np.arange(len(X))
    if len(rows) > SLOT_SCALE_ROWS:
        rows = np.sort(rng.choice(len(rows), SLOT_SCALE_ROWS, replace=False))
    dtype, device = module.F.dtype, module.F.device
    x = torch.as_tensor(X[rows], dtype=dtype, device=device)
    w = torch.as_tensor(sample_weight[rows], dtype=dtype, device=device)
    squares = module.slots(x).pow(2).mean(dim=1)  # (rows, q)
    size = (w @ squares / w.sum()).sqrt()
    return torch.where(size > 0, size, torch.ones_like(size)).cpu().double().numpy()


def train_network(net, X, Y, sample_weight):
    """Train ``net`` (a :func:`make_net`) on the scaled rows, each with its
    weight (normalised to mean 1) as skorch's ``X["sample_weight"]``.

    Returns
    -------
    n_iter : int
        Epochs run.
    loss_curve : list of float
        The training loss after each epoch.
    """
    dtype = np.float64 if net.module_.F.dtype == torch.float64 else np.float32
    X_dict = {
        "X": X.astype(dtype),
        "sample_weight": (sample_weight / sample_weight.mean()).astype(dtype),
    }
    net.partial_fit(X_dict, Y.astype(dtype))
    return training_record(net)
