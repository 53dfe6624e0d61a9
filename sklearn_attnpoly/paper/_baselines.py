"""The paper's baselines (section 5, Appendix A.1) and their training protocol.

The paper compares its transformer with two ReLU networks of comparable size,
each ending in a linear layer with a bias:

- ``NN_width``: one hidden layer of ``n`` units, ``n`` the number of rows of
  ``F`` in the attention model (Tables 2 and 3: 10 for f1, 4368 for f2);
- ``NN_depth``: ``q + 1`` hidden layers of equal width (4 for f1, 120 for f2).

All models are trained the same way (:mod:`~sklearn_attnpoly.paper._protocol`):
SGD with a one-cycle learning rate, gradient clipping, and each task's budget
of epochs and batch size. :class:`PaperMLPRegressor` is that
protocol for a ReLU network, on the unscaled data as in the paper, with the
clipping threshold :data:`PAPER_CLIP_NORM` (the paper gives none);
:func:`make_baseline` gives every baseline of the comparison, including
:class:`~sklearn.neural_network.MLPRegressor` configurations and the
exact-polynomial peer ``PolynomialFeatures`` + least squares.
"""

import copy
import math
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.compose import TransformedTargetRegressor
from sklearn.linear_model import LinearRegression
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data
from skorch.callbacks import Callback
from torch import nn

from .._device import resolve_device
from .._solvers._skorch import batch_loading, one_cycle_schedule, training_record
from ._mlp_step import ChunkedMLPNet
from ._protocol import PAPER_LR, PAPER_TASKS

BASELINES = ("nn_width", "nn_depth", "mlp_default", "poly_lr")


def relu_network(n_features, hidden_layer_sizes, dtype=torch.float32):
    """``Linear -> ReLU -> ... -> Linear(., 1)``: the layers of Tables 2 and 3."""
    widths = (n_features, *hidden_layer_sizes)
    layers = []
    for n_in, n_out in zip(widths[:-1], widths[1:], strict=True):
        layers += [nn.Linear(n_in, n_out, dtype=dtype), nn.ReLU()]
    layers.append(nn.Linear(widths[-1], 1, dtype=dtype))
    return nn.Sequential(*layers)


class ParameterSnapshots(Callback):
    """Keep a copy of the module's parameters at the end of every ``every``-th
    epoch (and of the last), to score the model on held-out data afterwards.

    Estimators copy the callbacks they are given, so read the snapshots from
    the fitted net: ``find_callback(est.net_, ParameterSnapshots).snapshots_``.

    Parameters
    ----------
    every : int, default=1
    """

    def __init__(self, every=1):
        self.every = every

    def initialize(self):
        self.snapshots_ = []
        return self

    def on_epoch_end(self, net, **kwargs):
        epoch = len(net.history)
        if epoch % self.every == 0 or epoch == net.max_epochs:
            params = {
                name: p.detach().cpu().clone()
                for name, p in net.module_.named_parameters()
            }
            self.snapshots_.append((epoch, params))


def find_callback(net, kind):
    """The fitted net's callback of class ``kind``."""
    return next(cb for _, cb in net.callbacks_ if isinstance(cb, kind))


def score_snapshots(est, X, y):
    """Mean squared error of ``est`` on ``(X, y)`` at each snapshot epoch.

    ``est`` was fitted with a :class:`ParameterSnapshots` callback; its final
    parameters are restored afterwards.

    Returns
    -------
    epochs : list of int
    mse : list of float
    """
    module = est.net_.module_
    final = {name: p.detach().clone() for name, p in module.named_parameters()}
    epochs, mse = [], []
    with torch.no_grad():
        for epoch, params in find_callback(est.net_, ParameterSnapshots).snapshots_:
            for name, p in module.named_parameters():
                p.copy_(params[name])
            epochs.append(epoch)
            mse.append(float(np.mean((est.predict(X) - y) ** 2)))
        for name, p in module.named_parameters():
            p.copy_(final[name])
    return epochs, mse


#: Gradient-norm threshold of :class:`PaperMLPRegressor`. The paper clips
#: "to avoid gradients exploding at the beginning of training" but gives no
#: threshold. On f1's raw scale NN_depth's initial gradients are far longer
#: than ``c``, so the clipped steps have length ``lr * c`` (before momentum)
#: and ``c`` decides how far the paper's 1200 steps get. The test errors
#: behind the choice, for several ``c`` and seeds, are on the results page
#: ("Reproducing the paper's experiments", The setting).
PAPER_CLIP_NORM = 5.0


class PaperMLPRegressor(RegressorMixin, BaseEstimator):
    """A ReLU network trained by the paper's protocol (section 5).

    The network of :func:`relu_network` is trained with SGD, a one-cycle
    learning rate from ``lr / 10`` up to ``lr`` and gradient-norm clipping,
    the schedule of :class:`~sklearn_attnpoly.AttentionPolynomialRegressor`
    with ``solver="sgd"``. By default it trains on the data as given, as we
    read the paper: it mentions no scaling, and it clips "to avoid gradients
    exploding at the beginning of training", which they do on the raw scale
    (without clipping, NN_depth on f1 collapses to a constant) and never on
    standardised data. Each step's gradient is that of the whole batch,
    computed chunk by chunk (:class:`~sklearn_attnpoly.paper._mlp_step.ChunkedMLPNet`),
    so that a wide hidden layer's activations stay in the cache;
    ``benchmarks/mlp_step.py`` times it against skorch's default step (the
    benchmarks page).

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(100,)
        Widths of the hidden layers.
    max_epochs : int, default=600
        Epochs of training; the paper's budget for f1.
    lr : float, default=1e-3
        Largest learning rate of the one-cycle schedule.
    batch_size : int, default=5000
        Rows per gradient step; the paper's batch for f1.
    clip_norm : float or None, default=5.0
        Largest norm of the gradient of all parameters; ``None`` does not
        clip. See :data:`PAPER_CLIP_NORM` for the choice of the default.
    standardize : bool, default=False
        Train on standardised inputs and target. At the paper's learning rate
        this leaves NN_depth's gradients on f1 far below the clipping
        threshold, and the paper's 1200 steps too short to move it away from
        predicting the mean (the results page gives the measurements).
    callbacks : list of skorch callbacks, default=None
        Extra callbacks, copied before training.
    device : str, default="cpu"
        ``"cpu"``, ``"auto"`` (CUDA when available), ``"cuda"`` or
        ``"cuda:N"``; a CUDA device this machine lacks raises a ValueError.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights and the order of mini-batches.

    Attributes
    ----------
    net_ : ChunkedMLPNet
        The fitted net, a :class:`skorch.NeuralNetRegressor` whose training
        step takes the gradient in cache-sized chunks of rows.
    n_iter_ : int
        Epochs run.
    loss_curve_ : list of float
        Training loss per epoch, on the target as the network sees it
        (standardised if ``standardize``).
    y_mean_, y_scale_ : float
        The network predicts ``(y - y_mean_) / y_scale_``; 0 and 1 unless
        ``standardize``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string column names.

    See Also
    --------
    make_baseline : The paper's NN_width and NN_depth as ready estimators.
    sklearn.neural_network.MLPRegressor : The ReLU network of scikit-learn.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_attnpoly.paper import PaperMLPRegressor
    >>> X = np.random.default_rng(0).normal(size=(100, 2))
    >>> est = PaperMLPRegressor((10,), max_epochs=5, batch_size=50,
    ...                         random_state=0).fit(X, X[:, 0])
    >>> est.n_iter_, est.predict(X).shape
    (5, (100,))
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": [tuple],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "clip_norm": [None, Interval(Real, 0, None, closed="neither")],
        "standardize": ["boolean"],
        "callbacks": [None, list, tuple],
        "device": [str],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        *,
        max_epochs=PAPER_TASKS["f1"]["max_epochs"],
        lr=PAPER_LR,
        batch_size=PAPER_TASKS["f1"]["batch_size"],
        clip_norm=PAPER_CLIP_NORM,
        standardize=False,
        callbacks=None,
        device="cpu",
        random_state=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.clip_norm = clip_norm
        self.standardize = standardize
        self.callbacks = callbacks
        self.device = device
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Train the network on ``X`` and ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs, as given (scaled first when ``standardize``).
        y : array-like of shape (n_samples,)
            Training targets.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        X, y = validate_data(self, X, y, y_numeric=True, dtype=np.float64)
        y = column_or_1d(y, warn=True)
        seed = int(check_random_state(self.random_state).randint(2**31 - 1))
        self.x_scaler_ = StandardScaler().fit(X) if self.standardize else None
        self.y_mean_, self.y_scale_ = (
            (y.mean(), y.std() or 1.0) if self.standardize else (0.0, 1.0)
        )
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            module = relu_network(X.shape[1], self.hidden_layer_sizes)
        steps = self.max_epochs * math.ceil(len(X) / self.batch_size)
        callbacks = one_cycle_schedule(self.lr, steps, clip_norm=self.clip_norm)
        self.net_ = ChunkedMLPNet(
            module,
            optimizer=torch.optim.SGD,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            train_split=None,
            # each batch by one indexing of the arrays, as the attention
            # model's net does: skorch's default loads the rows one by one
            **batch_loading(seed),
            callbacks=[*callbacks, *copy.deepcopy(list(self.callbacks or []))],
            device=resolve_device(self.device),
            verbose=0,
        )
        y_net = ((y - self.y_mean_) / self.y_scale_).astype(np.float32)
        self.net_.fit(self._net_inputs(X), y_net[:, None])
        self.n_iter_, self.loss_curve_ = training_record(self.net_)
        return self

    def predict(self, X):
        """The trained network's output on ``X``, in the target's units.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs, scaled as in ``fit`` when ``standardize`` is on.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            The predictions.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        y_net = self.net_.predict(self._net_inputs(X))[:, 0].astype(np.float64)
        return y_net * self.y_scale_ + self.y_mean_

    def _net_inputs(self, X):
        if self.x_scaler_ is not None:
            X = self.x_scaler_.transform(X)
        return X.astype(np.float32)


def make_baseline(
    name,
    task,
    *,
    protocol="paper",
    max_epochs=None,
    batch_size=None,
    callbacks=None,
    random_state=None,
):
    """A baseline of the paper's comparison, ready to fit.

    Parameters
    ----------
    name : {"nn_width", "nn_depth", "mlp_default", "poly_lr"}
        ``"nn_width"`` and ``"nn_depth"``: the ReLU networks of the paper's
        Tables 2 and 3. ``"mlp_default"``: :class:`MLPRegressor` with its
        default settings. ``"poly_lr"``: ``PolynomialFeatures(q)`` and
        ordinary least squares, which contains the target polynomial exactly.
    task : {"f1", "f2"}
        Which of the paper's tasks sets the architecture and the budget.
    protocol : {"paper", "sklearn"}, default="paper"
        For ``"nn_width"`` and ``"nn_depth"``: ``"paper"`` trains with
        :class:`PaperMLPRegressor`; ``"sklearn"`` with scikit-learn's
        :class:`MLPRegressor` (Adam, its default solver) on the same layers.
    max_epochs, batch_size : int, default=None
        The training budget of the networks; ``None`` takes the paper's.
    callbacks : list of skorch callbacks, default=None
        Passed to :class:`PaperMLPRegressor` (``protocol="paper"`` only).
    random_state : int, RandomState instance or None, default=None
        Seeds the networks' initial weights and the order of their batches.

    Returns
    -------
    estimator
        ``protocol="paper"`` networks train on the data as given, as in the
        paper; ``"mlp_default"`` and ``protocol="sklearn"`` standardise
        inputs and target, as scikit-learn's networks want.

    Examples
    --------
    >>> from sklearn_attnpoly.paper import make_baseline
    >>> make_baseline("nn_depth", "f1").hidden_layer_sizes
    (4, 4, 4)
    >>> make_baseline("poly_lr", "f2")
    Pipeline(steps=[('polynomialfeatures', PolynomialFeatures(degree=5)),
                    ('linearregression', LinearRegression())])
    """
    if task not in PAPER_TASKS:
        raise ValueError(f"task must be one of {sorted(PAPER_TASKS)}; got {task!r}.")
    if name not in BASELINES:
        raise ValueError(f"name must be one of {list(BASELINES)}; got {name!r}.")
    if protocol not in ("paper", "sklearn"):
        raise ValueError(f"protocol must be 'paper' or 'sklearn'; got {protocol!r}.")
    spec = PAPER_TASKS[task]
    if name == "poly_lr":
        return make_pipeline(PolynomialFeatures(spec["degree"]), LinearRegression())
    if name == "mlp_default":
        return _standardised(MLPRegressor(random_state=random_state))
    max_epochs = spec["max_epochs"] if max_epochs is None else max_epochs
    batch_size = spec["batch_size"] if batch_size is None else batch_size
    if protocol == "paper":
        return PaperMLPRegressor(
            spec[name],
            max_epochs=max_epochs,
            batch_size=batch_size,
            callbacks=callbacks,
            random_state=random_state,
        )
    mlp = MLPRegressor(
        hidden_layer_sizes=spec[name],
        max_iter=max_epochs,
        batch_size=batch_size,
        random_state=random_state,
    )
    return _standardised(mlp)


def _standardised(regressor):
    """``regressor`` on standardised inputs, predicting a standardised target."""
    return TransformedTargetRegressor(
        make_pipeline(StandardScaler(), regressor), transformer=StandardScaler()
    )
