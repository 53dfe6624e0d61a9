"""The skorch side: the net that holds the module, and what trains it.

Every solver ends with the fitted :class:`AttentionPolynomialNetwork` inside a
:class:`skorch.NeuralNetRegressor`, so prediction, device moves and
``save_params`` / ``load_params`` take one path. The gradient solvers train
``F``, ``beta`` and ``b`` with skorch's own loop and callbacks: one-cycle
learning rate (the paper's protocol: from ``lr / 10`` up to ``lr``), gradient
norm clipping, a projection that keeps every ``||xi_i|| <= 1`` after each step,
and a guard that stops a run whose loss stops being finite.

The rows of a batch are taken from the data with one indexing operation
(:func:`batch_loader`, :class:`BatchDataset`), not one ``__getitem__`` and one
tensor per row as a default :class:`torch.utils.data.DataLoader` does: at the
paper's f2 shape that per-row loading cost about as much as the gradient steps.
Each step computes the loss and its gradient in one pass over the batch
(:class:`PolynomialNet`).
"""

import math

import numpy as np
import torch
from skorch import NeuralNetRegressor
from skorch.callbacks import Callback, GradientNormClipping, LRScheduler, ProgressBar
from skorch.dataset import Dataset, unpack_data
from skorch.utils import to_tensor
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler

from ._network import AttentionPolynomialNetwork


class BatchDataset(Dataset):
    """:class:`skorch.dataset.Dataset` that takes a batch of rows at once.

    ``dataset[indices]``, with ``indices`` a list of row numbers, indexes the
    arrays ``X`` and ``y`` (NumPy arrays or tensors) once each. skorch's own
    ``Dataset`` accepts such a list too, but passes it to scikit-learn's
    ``_safe_indexing``, which checks the type of every index in Python, about
    as slow as taking the rows one by one. Single rows and other kinds of data
    (data frames, dicts, sparse matrices) are left to skorch's ``Dataset``.
    """

    def __getitem__(self, i):
        arrays = (np.ndarray, torch.Tensor)
        if not (
            isinstance(i, list)
            and isinstance(self.X, arrays)
            and (self.y is None or isinstance(self.y, arrays))
        ):
            return super().__getitem__(i)
        rows = np.asarray(i, dtype=np.intp)

        def take(data):
            if isinstance(data, torch.Tensor):
                return data[torch.from_numpy(rows).to(data.device)]
            return data[rows]

        return self.transform(take(self.X), None if self.y is None else take(self.y))


def batch_loader(dataset, batch_size, shuffle=False, generator=None, **kwargs):
    """A :class:`~torch.utils.data.DataLoader` that loads each batch with one
    indexing operation; skorch's ``iterator_train`` and ``iterator_valid``.

    The :class:`~torch.utils.data.BatchSampler` is the loader's *sampler* and
    ``batch_size=None`` turns automatic batching off, so the loader calls
    ``dataset[indices]`` once per batch, with the batch's list of row indices
    (which :class:`BatchDataset` answers by indexing its arrays), and converts
    the arrays it returns to tensors. The indices, their order and the
    draws from ``generator`` are those of ``DataLoader(dataset, batch_size,
    shuffle=shuffle, generator=generator)``, whose default sampler and batch
    sampler are the same two classes, so a seed gives the same batches, last
    partial batch included.

    Parameters
    ----------
    dataset : torch Dataset
        Indexable by a list of row indices, as :class:`skorch.dataset.Dataset`.
    batch_size : int
        Rows per batch; the last batch holds what is left.
    shuffle : bool, default=False
        Draw a new order of the rows, from ``generator``, at every pass.
    generator : torch.Generator, default=None
        Source of the shuffling.
    **kwargs : dict
        Further :class:`~torch.utils.data.DataLoader` arguments
        (``num_workers``, ``pin_memory``, ...).

    Returns
    -------
    torch.utils.data.DataLoader
    """
    if shuffle:
        rows = RandomSampler(dataset, generator=generator)
    else:
        rows = SequentialSampler(dataset)
    sampler = BatchSampler(rows, batch_size, drop_last=False)
    return DataLoader(
        dataset, batch_size=None, sampler=sampler, generator=generator, **kwargs
    )


def batch_loading(shuffle_seed=None):
    """skorch arguments that load each batch with one indexing operation
    (:class:`BatchDataset`, :func:`batch_loader`), for training and prediction.

    With ``shuffle_seed``, the training rows are shuffled at every pass from a
    :class:`torch.Generator` seeded with it; the loader draws from that
    generator too (one number per pass, as every ``DataLoader`` does), then
    the order of the rows.

    Returns
    -------
    dict
        Keyword arguments of :class:`skorch.NeuralNet`.
    """
    kwargs = {
        "dataset": BatchDataset,
        "iterator_train": batch_loader,
        "iterator_valid": batch_loader,
    }
    if shuffle_seed is not None:
        kwargs["iterator_train__shuffle"] = True
        kwargs["iterator_train__generator"] = torch.Generator().manual_seed(
            shuffle_seed
        )
    return kwargs


class WeightedMSELoss(torch.nn.Module):
    """Mean squared error weighted per row.

    The target carries the row weights as its last column, so that skorch's
    batching keeps each weight with its row without a custom loop.
    """

    def forward(self, y_pred, y_weighted):
        y_true, weight = y_weighted[:, :-1], y_weighted[:, -1]
        squared = ((y_pred - y_true) ** 2).mean(dim=1)
        return (weight * squared).sum() / weight.sum()


class OnePassNet(NeuralNetRegressor):
    """:class:`skorch.NeuralNetRegressor` whose training step may compute the
    loss and its gradient in one pass of its own.

    Subclasses implement :meth:`one_pass_step`; where it returns ``None`` (a
    module, criterion or batch it does not know), or the step has
    ``fit_params``, skorch's own step runs. Callbacks see the step as usual
    (``on_grad_computed`` gets the gradients, so clipping works); ``y_pred``
    carries no graph.
    """

    def one_pass_step(self, X, y):
        """``(loss, y_pred)`` for the batch ``(X, y)`` (tensors on the net's
        device), with the gradient in each parameter's ``.grad`` as
        ``loss.backward()`` leaves it; or ``None`` for skorch's own step."""
        return None

    def train_step_single(self, batch, **fit_params):
        if not fit_params:
            self._set_training(True)
            Xi, yi = unpack_data(batch)
            step = self.one_pass_step(
                to_tensor(Xi, device=self.device), to_tensor(yi, device=self.device)
            )
            if step is not None:
                loss, y_pred = step
                return {"loss": loss, "y_pred": y_pred}
        return super().train_step_single(batch, **fit_params)


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


def paper_schedule(lr, total_steps, clip_norm):
    """The paper's optimisation protocol as skorch callbacks, named.

    A one-cycle learning rate from ``lr / 10`` up to ``lr`` and down again,
    stepped every batch, and gradient-norm clipping at ``clip_norm`` (none when
    ``None``). torch's ``OneCycleLR`` also cycles SGD's momentum (0.95 to 0.85
    and back) by default; the paper's "SGD with one cycle learning rate" in
    torch gets the same, so it is left on.

    Returns
    -------
    list of (str, Callback)
    """
    callbacks = [
        (
            "one_cycle",
            LRScheduler(
                policy=torch.optim.lr_scheduler.OneCycleLR,
                max_lr=lr,
                total_steps=total_steps,
                div_factor=10.0,
                step_every="batch",
            ),
        )
    ]
    if clip_norm is not None:
        callbacks.append(
            ("clip_grad", GradientNormClipping(gradient_clip_value=clip_norm))
        )
    return callbacks


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
