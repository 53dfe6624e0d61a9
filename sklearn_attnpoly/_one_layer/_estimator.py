"""``OneLayerTransformerRegressor``: Kajitsuka and Sato's one-layer model."""

import copy
import math
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin, _fit_context
from sklearn.metrics import r2_score
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data
from skorch.callbacks import (
    Callback,
    EarlyStopping,
    EpochScoring,
    LRScheduler,
    PrintLog,
)
from skorch.dataset import ValidSplit
from skorch.utils import data_from_dataset

from .._device import resolve_device
from .._scaling import weighted_location_scale
from .._solvers._skorch import KeepBestParameters, batch_loading, training_record
from .._solvers._training import (
    NonFiniteLossGuard,
    WeightedMSELoss,
    WeightedRegressorNet,
)
from .._transaction import unchanged_on_error
from .._validation import validate_fit_data
from ._module import OneLayerTransformer

# early_stopping="auto" holds rows out when at least this many would be held
# out: fewer score too noisily to stop on
_AUTO_HELD_OUT_ROWS = 20


class OneLayerTransformerRegressor(MultiOutputMixin, RegressorMixin, BaseEstimator):
    """Regression with one layer of single-head, low-rank softmax attention.

    The model of Kajitsuka and Sato (2023): each input ``x`` in ``R^d`` is
    ``d`` tokens (the value ``x_j`` times a learned vector, plus a learned
    embedding of the position ``j``), passed through a token-wise
    feed-forward network, one single-head softmax self-attention layer whose
    query-key and value-output products have rank ``rank``, and a second
    feed-forward network, then averaged over the tokens and read out
    linearly. Their theorem: with head size 1 this one layer already
    memorises any finite sample and approximates continuous
    permutation-equivariant functions. Inputs and targets are standardised
    (with the sample weights) before training; all parameters are trained,
    in float64, by mini-batch gradient steps through skorch; on many rows a
    held-out part of them stops the training early, under
    :class:`~sklearn.neural_network.MLPRegressor`'s names.

    Parameters
    ----------
    rank : int, default=1
        Head size: the rank of the query-key product ``W_Q W_K^T`` and of the
        value-output product ``W_V W_O`` (1 is the paper's).
    d_model : int, default=16
        Width of a token.
    hidden_size : int, default=64
        Hidden units of each token-wise feed-forward network (tanh).
    solver : {"adam", "sgd"}, default="adam"
        Adam with ``betas=(0.9, 0.9)``, or SGD with momentum 0.9.
    lr : float, default=2e-2
        Initial learning rate. Without early stopping it is lowered to zero
        over ``max_epochs`` by a cosine schedule (per epoch); with it, it is
        divided by 5 whenever two epochs in a row fail to raise the
        validation score by more than ``tol`` (torch's ``ReduceLROnPlateau``,
        the rule of ``MLPRegressor(learning_rate="adaptive")``).
    max_epochs : int, default=500
        Most passes over the training rows; all of them run unless early
        stopping ends the training sooner.
    batch_size : int, "auto" or None, default="auto"
        Rows per gradient step. ``"auto"`` takes ``min(200, n_samples)``, as
        :class:`~sklearn.neural_network.MLPRegressor` does, and under early
        stopping at most a tenth of the training rows (rounded up), so that
        at least 10 steps separate two validation scores; ``None`` takes all
        rows at once (measured best for memorising small samples).
    early_stopping : bool or "auto", default="auto"
        Hold out ``validation_fraction`` of the rows (drawn from
        ``random_state``), score the network on them after every epoch
        (:math:`R^2`, weighted by their sample weights) and stop when that
        score has not improved by more than ``tol`` for ``n_iter_no_change``
        epochs in a row; the parameters of the best epoch are restored.
        ``"auto"`` turns it on when at least 20 rows (of positive weight)
        would be held out: from 200 rows at the default
        ``validation_fraction``. Without it, all ``max_epochs`` epochs run
        and the epoch of lowest training loss is kept when a run diverges.
    validation_fraction : float, default=0.1
        Share of the rows held out for early stopping, in (0, 1); at least
        two rows must be held out. Only used with early stopping.
    n_iter_no_change : int, default=5
        Epochs without an improvement of the validation score by more than
        ``tol`` after which training stops. Only used with early stopping.
        Half of :class:`~sklearn.neural_network.MLPRegressor`'s 10: the
        learning rate is cut twice in 5 such epochs (measurements in
        ``benchmarks/README.md``).
    tol : float, default=1e-4
        Least rise of the validation score that counts as an improvement.
        Only used with early stopping.
    device : str, default="auto"
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    callbacks : list of skorch callbacks, default=None
        Extra callbacks, copied before training.
    verbose : int, default=0
        ``1`` prints skorch's epoch table: one line per epoch, with the
        training loss and, under early stopping, the validation loss and
        score (``valid_r2``).
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the held-out rows and the order of
        mini-batches.

    Attributes
    ----------
    net_ : skorch.NeuralNetRegressor
        The trained net; ``net_.module_`` is the torch module.
    n_iter_ : int
        Epochs run.
    loss_curve_ : list of float
        Training loss per epoch, on the standardised targets.
    do_early_stopping_ : bool
        Whether early stopping was used (``early_stopping`` resolved).
    validation_scores_ : list of float or None
        The held-out rows' :math:`R^2` after each epoch, weighted by their
        sample weights (the mean over the targets of each target's
        :math:`R^2`); ``None`` without early stopping.
    best_validation_score_ : float or None
        The validation score of the epoch whose parameters were restored;
        ``None`` without early stopping.
    best_epoch_ : int
        The epoch (from 1) whose parameters the model has; without early
        stopping the last, or the epoch of lowest training loss (0 for the
        start) when the run diverged.
    n_outputs_ : int
        Number of targets.
    device_ : str
        The device the network lives on.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string column names.

    See Also
    --------
    AttentionPolynomialRegressor : The exact polynomial transformer.
    sklearn.neural_network.MLPRegressor : A ReLU network.

    Notes
    -----
    On data a smooth function explains, a model of this size generalises
    about like a multilayer perceptron of as many parameters; with early
    stopping its fits take a few times those of
    :class:`~sklearn.neural_network.MLPRegressor` (``python
    benchmarks/one_layer.py``; the numbers are in ``benchmarks/README.md``).
    Its strength is capacity per parameter for memorising: for that,
    ``batch_size=None`` and ``early_stopping=False``.

    Early stopping keeps the epoch of the best validation score among those
    that improved it by more than ``tol`` (skorch's
    :class:`~skorch.callbacks.EarlyStopping` with ``load_best=True``), and
    stops after ``n_iter_no_change`` epochs without such an improvement, or
    at ``max_epochs``. The held-out rows are drawn among the rows of
    positive weight, train nothing, and weigh in the validation score by
    their sample weights; with several targets the score is the mean of the
    targets' :math:`R^2`. The inputs and targets are standardised with all
    rows.

    A ``fit`` that raises leaves the estimator as it was. Without early
    stopping, a run whose loss ends more than twice its lowest keeps its
    best epoch and warns with a
    :class:`~sklearn.exceptions.ConvergenceWarning`.

    References
    ----------
    T. Kajitsuka and I. Sato, "Are Transformers with One Layer Self-Attention
    Using Low-Rank Weight Matrices Universal Approximators?", 2023.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_attnpoly import OneLayerTransformerRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(64, 4))
    >>> y = rng.normal(size=64)  # labels with no pattern, to memorise
    >>> est = OneLayerTransformerRegressor(max_epochs=300, random_state=0)
    >>> est.fit(X, y).score(X, y) > 0.99
    True
    """

    _parameter_constraints: dict = {
        "rank": [Interval(Integral, 1, None, closed="left")],
        "d_model": [Interval(Integral, 1, None, closed="left")],
        "hidden_size": [Interval(Integral, 1, None, closed="left")],
        "solver": [StrOptions({"adam", "sgd"})],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [
            None,
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
        ],
        "early_stopping": [StrOptions({"auto"}), "boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "device": [str],
        "callbacks": [None, list, tuple],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        rank=1,
        *,
        d_model=16,
        hidden_size=64,
        solver="adam",
        lr=2e-2,
        max_epochs=500,
        batch_size="auto",
        early_stopping="auto",
        validation_fraction=0.1,
        n_iter_no_change=5,
        tol=1e-4,
        device="auto",
        callbacks=None,
        verbose=0,
        random_state=None,
    ):
        self.rank = rank
        self.d_model = d_model
        self.hidden_size = hidden_size
        self.solver = solver
        self.lr = lr
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.device = device
        self.callbacks = callbacks
        self.verbose = verbose
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    @unchanged_on_error
    def fit(self, X, y, sample_weight=None):
        """Train the transformer on ``X`` and ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Training targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights; rows of weight zero are ignored.

        Returns
        -------
        self : object
            The fitted estimator; if ``fit`` raises, it is left as it was.
        """
        X, Y, w = validate_fit_data(self, X, y, sample_weight)
        self.x_mean_, self.x_scale_ = weighted_location_scale(X, w)
        self.y_mean_, self.y_scale_ = weighted_location_scale(Y, w)
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        device = resolve_device(self.device)
        n_train = len(X)
        n_valid = math.ceil(self.validation_fraction * n_train)
        early_stopping = self.early_stopping
        if early_stopping == "auto":
            early_stopping = n_valid >= _AUTO_HELD_OUT_ROWS
        if early_stopping:
            if n_valid < 2 or n_valid >= n_train:
                raise ValueError(
                    f"validation_fraction={self.validation_fraction} holds out "
                    f"{n_valid} of the {n_train} rows of positive weight; early "
                    "stopping needs at least 2 held out and 1 to train. Change "
                    "validation_fraction, or set early_stopping=False."
                )
            n_train -= n_valid
        batch_size = self.batch_size or n_train
        if batch_size == "auto":  # under early stopping, 10 steps between scores
            batch_size = min(200, math.ceil(n_train / (10 if early_stopping else 1)))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            module = OneLayerTransformer(
                X.shape[1], Y.shape[1], self.d_model, self.hidden_size, self.rank
            ).double()
        optimizer = torch.optim.Adam if self.solver == "adam" else torch.optim.SGD
        options = (
            {"optimizer__betas": (0.9, 0.9)}
            if self.solver == "adam"
            else {"optimizer__momentum": 0.9}
        )
        callbacks = [
            ("finite_loss", NonFiniteLossGuard(advice="")),
            *(
                self._early_stopping_callbacks()
                if early_stopping
                else [
                    (
                        "cosine",
                        LRScheduler(
                            torch.optim.lr_scheduler.CosineAnnealingLR,
                            T_max=self.max_epochs,
                        ),
                    ),
                    ("keep_best", KeepBestParameters()),
                ]
            ),
            *(
                (f"user_{i}_{type(cb).__name__}", cb)
                for i, cb in enumerate(copy.deepcopy(list(self.callbacks or [])))
            ),
        ]
        net = WeightedRegressorNet(
            module,
            criterion=WeightedMSELoss,
            optimizer=optimizer,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=batch_size,
            train_split=(
                ValidSplit(self.validation_fraction, random_state=seed)
                if early_stopping
                else None
            ),
            device=device,
            callbacks=callbacks,
            verbose=self.verbose,
            **({"callbacks__print_log": None} if early_stopping else {}),
            **batch_loading(seed),
            **options,
        )
        X_dict = {
            "X": self._standardise(X),
            "sample_weight": w / w.mean(),
        }
        net.fit(X_dict, (Y - self.y_mean_) / self.y_scale_)
        self.net_ = net
        self.n_outputs_ = Y.shape[1]
        self.device_ = device
        self.n_iter_, self.loss_curve_ = training_record(net)
        self.do_early_stopping_ = early_stopping
        if early_stopping:
            self.best_epoch_ = dict(net.callbacks_)["early_stopping"].best_epoch_
            self.validation_scores_ = [float(v) for v in net.history[:, "valid_r2"]]
            self.best_validation_score_ = (  # epoch 0: no score was finite
                self.validation_scores_[self.best_epoch_ - 1]
                if self.best_epoch_
                else None
            )
        else:
            self.best_epoch_ = dict(net.callbacks_)["keep_best"].best_epoch_
            self.validation_scores_ = self.best_validation_score_ = None
        return self

    def _early_stopping_callbacks(self):
        """The held-out rows' score after every epoch, and skorch's early
        stopping on it, which restores the best epoch's parameters."""
        return [
            (
                "valid_r2",
                EpochScoring(_held_out_r2, lower_is_better=False, name="valid_r2"),
            ),
            (
                "plateau",
                LRScheduler(
                    torch.optim.lr_scheduler.ReduceLROnPlateau,
                    monitor="valid_r2",
                    mode="max",
                    factor=0.2,
                    patience=1,
                    threshold=self.tol,
                    threshold_mode="abs",
                ),
            ),
            ("print_before_stopping", _PrintBeforeStopping()),
            (
                "early_stopping",
                EarlyStopping(
                    monitor="valid_r2",
                    patience=self.n_iter_no_change,
                    threshold=self.tol,
                    threshold_mode="abs",
                    lower_is_better=False,
                    load_best=True,
                ),
            ),
        ]

    def predict(self, X):
        """Predict with the trained transformer.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The predictions.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        Y = self.net_.predict(self._standardise(X))
        Y = Y.astype(np.float64) * self.y_scale_ + self.y_mean_
        return Y[:, 0] if self.n_outputs_ == 1 else Y

    def _standardise(self, X):
        return (X - self.x_mean_) / self.x_scale_


class _PrintBeforeStopping(Callback):
    """skorch's :class:`~skorch.callbacks.PrintLog`, run before early stopping.

    skorch runs its ``PrintLog`` after every other callback, and
    :class:`~skorch.callbacks.EarlyStopping` ends the training from the
    ``on_epoch_end`` of the epoch that stops it, so that epoch's line would
    not be printed. This one takes ``PrintLog``'s place
    (``callbacks__print_log=None``).
    """

    def initialize(self):
        self.log_ = PrintLog().initialize()
        return super().initialize()

    def on_epoch_end(self, net, **kwargs):
        self.log_.on_epoch_end(net, **kwargs)


def _held_out_r2(net, dataset, y):
    """skorch scoring: the :math:`R^2` of the held-out rows, weighted by their
    sample weights, from the predictions of skorch's validation pass."""
    X, _ = data_from_dataset(dataset)
    return r2_score(y, net.predict(dataset), sample_weight=X["sample_weight"])
