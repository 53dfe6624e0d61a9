"""skorch plumbing that any network of the package trains with.

- :class:`BatchDataset` and :func:`batch_loader` take the rows of a batch
  from the data with one indexing operation, not one ``__getitem__`` and one
  tensor per row as a default :class:`torch.utils.data.DataLoader` does (at
  the paper's f2 shape that per-row loading cost about as much as the
  gradient steps); :func:`batch_loading` gives them as skorch arguments.
- :class:`OnePassNet` is a :class:`skorch.NeuralNetRegressor` whose training
  step may compute the loss and its gradient in one pass of its own, and that
  builds no optimizer when it only predicts.
- :class:`KeepBestParameters` keeps the best epoch's parameters and puts them
  back when a run diverges.
- :func:`one_cycle_schedule` is the paper's optimisation protocol as skorch
  callbacks: a one-cycle learning rate and gradient-norm clipping.
"""

import warnings
from collections.abc import Mapping

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from skorch import NeuralNetRegressor
from skorch.callbacks import Callback, GradientNormClipping, LRScheduler
from skorch.dataset import Dataset, unpack_data
from skorch.utils import to_tensor
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler


class BatchDataset(Dataset):
    """:class:`skorch.dataset.Dataset` that takes a batch of rows at once.

    ``dataset[indices]``, with ``indices`` a list of row numbers, indexes the
    arrays ``X`` and ``y`` (NumPy arrays or tensors, or for ``X`` a dict of
    them, such as ``{"X": rows, "sample_weight": weights}``) once each.
    skorch's own ``Dataset`` accepts such a list too, but passes it to
    scikit-learn's ``_safe_indexing``, which checks the type of every index in
    Python, about as slow as taking the rows one by one. Single rows and other
    kinds of data (data frames, sparse matrices) are left to skorch's
    ``Dataset``.
    """

    def __getitem__(self, i):
        values = self.X.values() if isinstance(self.X, Mapping) else [self.X]
        if self.y is not None:
            values = [*values, self.y]
        if not (isinstance(i, list) and all(_is_array(v) for v in values)):
            return super().__getitem__(i)
        rows = np.asarray(i, dtype=np.intp)

        def take(data):
            if isinstance(data, torch.Tensor):
                return data[torch.from_numpy(rows).to(data.device)]
            return data[rows]

        if isinstance(self.X, Mapping):
            X = {key: take(value) for key, value in self.X.items()}
        else:
            X = take(self.X)
        return self.transform(X, None if self.y is None else take(self.y))


def _is_array(data):
    return isinstance(data, (np.ndarray, torch.Tensor))


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


class OnePassNet(NeuralNetRegressor):
    """:class:`skorch.NeuralNetRegressor` whose training step may compute the
    loss and its gradient in one pass of its own, and that may have no
    optimizer.

    Subclasses implement :meth:`one_pass_step`; where it returns ``None`` (a
    module, criterion or batch it does not know), or the step has
    ``fit_params``, skorch's own step runs. Callbacks see the step as usual
    (``on_grad_computed`` gets the gradients, so clipping works); ``y_pred``
    carries no graph.

    With ``optimizer=None`` the net only predicts (a module fitted in closed
    form): ``optimizer_`` is ``None``. Every torch optimizer imports
    ``torch._dynamo`` when it is built (``Optimizer.add_param_group`` is
    wrapped by ``torch._disable_dynamo``), a cost at the first import which
    a net that only predicts need not pay. To train it, set an optimizer
    (``set_params(optimizer=torch.optim.SGD)``); it is built when the
    training starts.
    """

    def initialize_optimizer(self, *args, **kwargs):
        if self.optimizer is None:
            self.optimizer_ = None
            return self
        return super().initialize_optimizer(*args, **kwargs)

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        if getattr(self, "optimizer_", None) is None:
            if self.optimizer is None:
                raise ValueError(
                    "This net has no optimizer (optimizer=None): it only "
                    "predicts. Set one, e.g. set_params(optimizer="
                    "torch.optim.SGD), to train it."
                )
            self._initialize_optimizer()
        return super().fit_loop(X, y, epochs, **fit_params)

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


class KeepBestParameters(Callback):
    """End a run with the parameters of lowest training loss among its start,
    its best epoch and its end, each scored exactly.

    skorch's ``Checkpoint(load_best=True)`` in memory, for one call to
    ``fit`` or ``partial_fit``. An epoch's ``train_loss`` is the mean of its
    batch losses while the parameters moved, not the loss of the parameters
    it ends with, so it only nominates a candidate: the epoch of lowest
    ``train_loss`` keeps its parameters. The start, the candidate and the last
    parameters are then each scored by one pass over the training data at
    the net's batch size (the batch losses weighted by batch size, as skorch
    weighs them), and the run ends with the lowest, so it never ends worse,
    on its training loss, than it started (a closed-form start is never lost
    to the first steps). Losses below the machine epsilon of the parameters'
    dtype are rounding noise and count as equal to it, and a tie keeps the
    later parameters. When the last loss is more than ``ratio`` times the
    lowest, the run diverged, and a
    :class:`~sklearn.exceptions.ConvergenceWarning` that names ``lr`` says
    so, unless the lowest loss is within the square root of that epsilon of
    the targets' mean square: such parameters already fit the targets to the
    precision the gradient steps work at, nothing was left to learn, and they
    are what the run returns.

    Parameters
    ----------
    ratio : float, default=2.0
        A run whose last loss exceeds ``ratio`` times its lowest diverged.

    Attributes
    ----------
    best_epoch_ : int
        The epoch whose parameters the run ends with (0 is the start).
    best_loss_ : float
        Their training loss, scored exactly.
    """

    def __init__(self, ratio=2.0):
        self.ratio = ratio

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.floor_ = max(torch.finfo(p.dtype).eps for p in net.module_.parameters())
        self.fitted_floor_ = (
            self.floor_**0.5 * torch.as_tensor(y).double().square().mean().item()
        )
        self.first_epoch_ = len(net.history) + 1
        start = _mean_loss(net, X, y)
        self.start_ = (start, self.first_epoch_ - 1, _parameters(net))
        self.candidate_ = None  # (train_loss, epoch, parameters)

    def on_epoch_end(self, net, **kwargs):
        loss = net.history[-1, "train_loss"]
        if self.candidate_ is None or loss < self.candidate_[0]:
            self.candidate_ = (loss, len(net.history), _parameters(net))

    def on_train_end(self, net, X=None, y=None, **kwargs):
        last_epoch = len(net.history)
        if last_epoch < self.first_epoch_:
            self.best_loss_, self.best_epoch_ = self.start_[0], self.start_[1]
            return
        last = _mean_loss(net, X, y)
        scored = [self.start_]
        if self.candidate_ is not None and self.candidate_[1] != last_epoch:
            params = _parameters(net)
            _load(net, self.candidate_[2])
            scored.append((_mean_loss(net, X, y), *self.candidate_[1:]))
            _load(net, params)
        best_loss, best_epoch, best_params = min(
            scored, key=lambda s: (max(s[0], self.floor_), -s[1])
        )
        if not max(last, self.floor_) > max(best_loss, self.floor_):
            self.best_epoch_, self.best_loss_ = last_epoch, last
            return
        _load(net, best_params)
        self.best_epoch_, self.best_loss_ = best_epoch, best_loss
        if last > self.ratio * max(best_loss, self.floor_) and (
            best_loss > self.fitted_floor_
        ):
            warnings.warn(
                f"The training loss rose from {best_loss:.3g} (epoch "
                f"{best_epoch}, where 0 is the start) to {last:.3g} (epoch "
                f"{last_epoch}): the run diverged. The parameters of epoch "
                f"{best_epoch} were kept. Lower lr (now {net.lr:g}).",
                ConvergenceWarning,
                stacklevel=2,
            )


def _parameters(net):
    """A copy of the module's parameters."""
    return {name: p.detach().clone() for name, p in net.module_.named_parameters()}


def _load(net, parameters):
    """Put copied parameters back into the module."""
    current = dict(net.module_.named_parameters())
    with torch.no_grad():
        for name, value in parameters.items():
            current[name].copy_(value)


def _mean_loss(net, X, y):
    """The training loss of ``net`` on ``(X, y)`` as skorch reports an
    epoch's: the batch losses weighted by batch size."""
    dataset = net.get_dataset(X, y)
    total, rows = 0.0, 0
    for batch in net.get_iterator(dataset, training=False):
        loss = net.validation_step(batch)["loss"].item()
        size = len(unpack_data(batch)[1])
        total, rows = total + loss * size, rows + size
    return total / rows


def one_cycle_schedule(lr, total_steps, clip_norm):
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


def training_record(net):
    """``(n_iter, loss_curve)`` of a trained skorch net: the epochs it ran and
    its training loss after each."""
    return len(net.history), [float(v) for v in net.history[:, "train_loss"]]
