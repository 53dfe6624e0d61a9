"""``OneLayerTransformerRegressor``: Kajitsuka and Sato's one-layer model."""

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data
from skorch.callbacks import LRScheduler

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


class OneLayerTransformerRegressor(RegressorMixin, BaseEstimator):
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
    in float64, by mini-batch gradient steps through skorch.

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
        Initial learning rate, lowered to zero over ``max_epochs`` by a cosine
        schedule.
    max_epochs : int, default=500
        Passes over the training rows.
    batch_size : int or None, default=None
        Rows per gradient step; ``None`` takes all rows at once (measured
        best for memorisation).
    device : str, default="auto"
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    callbacks : list of skorch callbacks, default=None
        Extra callbacks, copied before training.
    verbose : int, default=0
        ``1`` prints skorch's epoch table.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights and the order of mini-batches.

    Attributes
    ----------
    net_ : skorch.NeuralNetRegressor
        The trained net; ``net_.module_`` is the torch module.
    n_iter_ : int
        Epochs run.
    loss_curve_ : list of float
        Training loss per epoch, on the standardised targets.
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
    about like a multilayer perceptron of as many parameters: on the paper's
    f2 (2000 training rows) it fitted the training rows (R^2 0.996) and
    reached a test R^2 of 0.56, an MLP 0.44 and
    ``AttentionPolynomialRegressor(degree=5)`` 0.77
    (``python benchmarks/one_layer.py``). Its strength is capacity per
    parameter for memorising.

    A ``fit`` that raises leaves the estimator as it was; a run whose loss
    ends more than twice its lowest keeps its best epoch and warns with a
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
        "batch_size": [None, Interval(Integral, 1, None, closed="left")],
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
        batch_size=None,
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
            (
                "cosine",
                LRScheduler(
                    torch.optim.lr_scheduler.CosineAnnealingLR, T_max=self.max_epochs
                ),
            ),
            ("finite_loss", NonFiniteLossGuard(advice="")),
            ("keep_best", KeepBestParameters()),
            *(
                (f"user_{i}_{type(cb).__name__}", cb)
                for i, cb in enumerate(list(self.callbacks or []))
            ),
        ]
        net = WeightedRegressorNet(
            module,
            criterion=WeightedMSELoss,
            optimizer=optimizer,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size or len(X),
            train_split=None,
            device=device,
            callbacks=callbacks,
            verbose=self.verbose,
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
        return self

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

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
