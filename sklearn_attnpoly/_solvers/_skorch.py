"""skorch plumbing that any network of the package trains with.

- :class:`BatchDataset` and :func:`batch_loader` take the rows of a batch
  from the data with one indexing operation, not one ``__getitem__`` and one
  tensor per row as a default :class:`torch.utils.data.DataLoader` does (at
  the paper's f2 shape that per-row loading cost about as much as the
  gradient steps); :func:`batch_loading` gives them as skorch arguments.
- :class:`OnePassNet` is a :class:`skorch.NeuralNetRegressor` whose training
  step may compute the loss and its gradient in one pass of its own.
- :func:`paper_schedule` is the paper's optimisation protocol as skorch
  callbacks: a one-cycle learning rate and gradient-norm clipping.
"""

import numpy as np
import torch
from skorch import NeuralNetRegressor
from skorch.callbacks import GradientNormClipping, LRScheduler
from skorch.dataset import Dataset, unpack_data
from skorch.utils import to_tensor
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler


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


def training_record(net):
    """``(n_iter, loss_curve)`` of a trained skorch net: the epochs it ran and
    its training loss after each."""
    return len(net.history), [float(v) for v in net.history[:, "train_loss"]]
