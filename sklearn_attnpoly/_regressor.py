"""The scikit-learn estimator around the network of Theorem 3.5.

It validates, scales, dispatches to a solver
(:mod:`~sklearn_attnpoly._solvers._dispatch`) and stores the fitted state
(:mod:`~sklearn_attnpoly._fitted`); the solvers, the network and the map
between a polynomial and the network live below it.
"""

import copy
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Hidden, Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from ._device import resolve_device
from ._fitted import clear_network, store_network
from ._guard import (
    apply_out_of_bound_policy,
    check_extrapolation,
    check_guard_precision,
    check_prediction_precision,
)
from ._polynomial_forms import PolynomialFormsMixin
from ._predict import network_output
from ._scaling import fit_frames
from ._solvers._dask import dask_moments, is_dask_array
from ._solvers._dispatch import (
    check_fit_size,
    check_solver_options,
    fit_from_moments,
    fit_network,
    initial_directions,
)
from ._solvers._incremental import accumulate_batch
from ._transaction import unchanged_on_error
from ._validation import validate_fit_data
from .attention import NetworkSpec

DTYPES = {"float64": torch.float64, "float32": torch.float32}


def _has_moments_solver(estimator):
    """Whether ``partial_fit`` exists: only the closed form sums moments."""
    if estimator.solver != "lstsq":
        raise AttributeError(
            "partial_fit needs solver='lstsq' (the closed-form readout, "
            f"summed from the data's moments); got solver={estimator.solver!r}."
        )
    return True


class AttentionPolynomialRegressor(
    PolynomialFormsMixin, MultiOutputMixin, RegressorMixin, BaseEstimator
):
    """Regression with the single-head self-attention transformer of Fang et al.

    The input ``x`` is scaled, projected by ``F`` (rows of norm at most 1) to
    ``t = Fx``, turned into ``n`` tokens, passed through ``degree`` frozen
    encoder blocks that write the powers ``(-1)^k t_i^k`` (Lemma 3.1) and read
    out linearly: ``sum_i sum_k beta_ik (-1)^k t_i^k + b``. With the
    ``C(d - 1 + q, q)`` directions of Lemma 3.3 this represents every polynomial
    of degree at most ``q`` with zero approximation error (Theorem 3.5). Only
    ``F``, ``beta`` and ``b`` are fitted.

    Parameters
    ----------
    degree : int, default=2
        ``q``: the number of encoder blocks and the largest degree represented.
    n_directions : int, default=None
        Rows of ``F``. ``None`` takes the ``C(d - 1 + q, q)`` lattice directions
        of Lemma 3.3, enough for every polynomial of degree ``q``; an int takes
        that many random unit directions drawn from ``random_state``. For
        ``solver="varpro"``, an int learns that many directions, and ``None``
        chooses how many on held-out rows (``validation_fraction``,
        ``n_iter_no_change``, ``validation_tol``, ``scoring``): the directions
        grow by about a quarter at each step (1, 2, 3, 4, 5, 7, 9, 12, ...),
        each step is scored on the held-out rows, growth stops when
        ``n_iter_no_change`` steps have not improved it, and the step of the
        best score is kept and refitted on all the rows. Each step's refit
        of the directions also ends as early stopping would: once ten of
        its iterations have neither cut the held-out error by a thousandth
        of itself nor the training loss by more than a thousandth of itself
        per iteration (and, when the growth saw every training row, the
        final refit of a step so ended stops at that pace too). The growth
        is capped
        at 128 directions, and at as many as keep the trained parameters
        ``n (d + q) + 1`` within half the training rows.
    solver : {"lstsq", "varpro", "sgd", "adam"}, default="lstsq"
        ``"lstsq"`` keeps ``F`` fixed and solves ``beta, b`` in closed form:
        the slots are the powers ``(xi_i . x)^k`` inside the blocks' bound, so
        the readout is fitted as a weighted ridge polynomial (see ``alpha``),
        from the data's moments of degree ``<= 2 q`` or, with fewer rows than
        that costs, from the rows' ``N x N`` kernel, and ``beta`` follows from
        the polynomial. It alone supports :meth:`partial_fit` and Dask
        arrays. ``"varpro"`` learns ``n_directions`` directions by variable
        projection: for each ``F`` the readout is eliminated by its closed-form
        ridge on the standardised slots (``alpha``), and ``F`` minimises the
        remaining loss by L-BFGS (``max_iter``, ``tol``), its rows grown a few
        at a time, each new one fitted to the residual of the others. Its
        readout is computed from the ``n q`` slots, never from the monomials,
        so it reaches polynomials of degree ``q`` in dimensions where the
        monomials are too many to form. ``"sgd"`` (the paper's protocol) and
        ``"adam"`` also train ``F``, by mini-batch gradient steps through the
        frozen blocks, with a one-cycle learning rate from ``lr / 10`` to
        ``lr`` and gradient-norm clipping at 1.
    alpha : float, default=None
        Ridge strength, as scikit-learn's :class:`~sklearn.linear_model.Ridge`
        means it against the weighted sum of squared residuals, on
        standardised features: the slots for ``"varpro"``, the monomials
        otherwise. ``None``: for ``"varpro"``, chosen at each refit of the
        readout by efficient leave-one-out over ``1e-10 .. 1`` per unit of
        total weight (one eigendecomposition of the ``n q`` slot system, as
        :class:`~sklearn.linear_model.RidgeCV` does), and for the other
        solvers ``1e-8``, a numerical safeguard, not a regulariser (for ``N``
        rows of weight 1 it adds ``1e-8 / N`` to the unit diagonal of the
        monomials' correlation matrix). A float fixes it for every solver;
        :attr:`alpha_` records the one used. For ``"lstsq"`` (and for the warm
        start of the gradient solvers) the
        readout is the polynomial that
        ``make_pipeline(StandardScaler(), PolynomialFeatures(degree,
        include_bias=False), StandardScaler(), Ridge(alpha))`` fits, with the
        sample weights passed to every step, so ``alpha`` multiplies the
        squared norm of the coefficients of the standardised monomials against
        the weighted sum of squared residuals. With random directions too few
        for some degree, the penalty is that norm for the polynomial the
        directions represent.
    max_epochs : int, default=100
        Epochs of the gradient solvers (``"sgd"``, ``"adam"``).
    max_iter : int, default=200
        L-BFGS iterations of ``"varpro"``'s final refit of the directions
        (and of its last growth step); a :class:`~sklearn.exceptions.ConvergenceWarning`
        says when it stops there before ``tol``.
    tol : float, default=1e-5
        ``"varpro"`` stops refitting when its loss falls by less than ``tol``
        of itself per iteration, on average over the last 10 iterations.
    validation_fraction : float, default=0.1
        The rows held out to choose ``"varpro"``'s number of directions
        (``n_directions=None``): a pseudo-random function of each row's
        values, seeded by ``random_state``, so a row of weight ``k`` and the
        row repeated ``k`` times are held out alike.
    n_iter_no_change : int, default=2
        ``"varpro"``'s growth stops after this many steps without improving
        the held-out score by ``validation_tol``.
    validation_tol : float, default=1e-2
        The improvement that counts. For ``"r2"`` and
        ``"neg_mean_squared_error"`` it is relative: the held-out error (``1 -
        R^2``, the MSE) must fall by this fraction, since it spans 1 to 1e-7
        between noisy data and smooth simulators; for a callable ``scoring``
        it is absolute, as in scikit-learn's early stopping; ``tol`` is the
        refits' own stopping rule.
    scoring : {"r2", "neg_mean_squared_error"}, callable or None, default=None
        The held-out score (``None``: ``"r2"``), in the network's scaled
        units; a callable is ``scoring(y_true, y_pred, sample_weight=w)``,
        higher better.
    lr : float, default=0.03
        Largest learning rate of the one-cycle schedule (it starts at a
        tenth), in the scaled units of ``scaling="ball"``. A run ends with
        the parameters of its epoch of lowest training loss, the start
        included, so a closed-form start is never lost to the first steps.
        The paper's ``1e-3`` is for the data as given (``scaling="none"``),
        whose raw powers have a far larger curvature; the user guide gives
        the measurements behind the default.
    batch_size : int, default=256
        Rows per gradient step. Prediction takes chunks of rows sized in
        bytes instead (``sklearn_attnpoly._chunks``).
    engine : {"structured", "dense"}, default="structured"
        How the blocks are computed: ``"dense"`` with the literal matrices of
        Lemma 3.1, O(n^2) per input, as a reference; ``"structured"`` by an
        exact O(n) rewriting that gives the same numbers.
    scaling : {"ball", "none"}, default="ball"
        ``"ball"``: each feature is standardised, then all are shrunk so that
        the training rows lie in the ball of radius ``bound``, and the target
        is standardised; the network works in these units. ``"none"``: inputs
        and targets as given (the paper's setting), the blocks built for
        ``headroom`` times the training rows' largest norm ``R``. Their
        rounding grows like ``u M_k^2`` with ``M_k ~ R^(k-1)``, so raw data of
        a large radius costs precision (``fit`` refuses a loss beyond 1e-6
        in float64, 1e-3 in float32, as for ``headroom``), and ``lr`` must
        suit the raw scale. :meth:`partial_fit` and Dask arrays need
        ``"ball"``.
    bound : float, default=1.0
        The radius, in scaled units, of the ball the training inputs are mapped
        into (``scaling="ball"``).
    headroom : float, default=2.0
        The blocks are built for the guard radius ``headroom * bound``: inputs
        up to ``headroom`` times farther (in scaled units) than the farthest
        training row are computed by the blocks as they are. A larger guard
        radius costs precision on every row, since a block rounds its slot at
        about ``u M_k^2``; ``fit`` raises a ValueError when the training rows
        would be rounded by more than 1e-6 (float64) or 1e-3 (float32) of
        their size.
    out_of_bound : {"extend", "warn", "raise", "clip"}, default="extend"
        What ``predict`` does with rows beyond the guard radius. ``"extend"``:
        the fitted polynomial, computed by the blocks on the row scaled into
        the guard radius by a power of two, the readout's degree-``k`` terms
        scaled back by that power to the ``k``: exact in floating point, so the
        relative precision is the one inside the guard radius, however far the
        row lies. An :class:`OutOfBoundWarning` is raised only when the
        estimated rounding error of those rows exceeds 1e-6 (float64) or 1e-3
        (float32) of the largest ``|prediction|``, and a ValueError when the
        polynomial overflows the dtype there. ``"warn"``: the network's own
        output, which is not the polynomial there, with an
        :class:`OutOfBoundWarning`; ``"raise"``: a ValueError; ``"clip"``:
        the rows projected onto the guard sphere, with a warning.
    attention : {"hardmax", "boltzmann"}, default="hardmax"
        The blocks' maximum. ``"hardmax"``: Lemma 3.1's one-hot maximum, the
        exact polynomial. ``"boltzmann"``: softmax attention read as the
        Boltzmann operator ``a . softmax(b a)`` (Kajitsuka and Sato, 2023),
        with the diagonal bonus ``3 M^2`` so that the token's own score leads
        by a certified gap; the network then differs from the exact one by at
        most :attr:`error_bound_`, and gradients flow through the softmax.
        The closed form fits the polynomial (the hardmax network's readout);
        the gradient solvers train the Boltzmann network itself.
    inverse_temperature : float, default=40.0
        The Boltzmann blocks' inverse temperature, in units of each block's
        certified gap (``attention="boltzmann"``): block 1 uses ``b_1 =
        inverse_temperature / C_1`` and block ``k >= 2`` ``b_k =
        (inverse_temperature + 8) / Delta_k``, so that block 1's deficit, the
        same at every input, sets the error. Larger is closer to the hardmax;
        the error falls like ``e^-inverse_temperature``.
    beta : float, default="deprecated"
        The former name of ``inverse_temperature``.

        .. deprecated:: 0.2
           ``beta`` was renamed ``inverse_temperature`` in 0.2 and will be
           removed in 0.4 (``beta`` names the readout's coefficients).
    readout_init : {"lstsq", "zeros"}, default="lstsq"
        Start of the gradient solvers' ``beta, b``: the closed-form ridge
        solution for the initial ``F``, or zeros. From zeros in the scaled
        units, each slot's coefficient is trained divided by the slot's
        typical size on the training rows (``net_.module_.slot_scale``), so
        that every degree's coefficients are of order one; the network is
        the same function.
    dtype : {"float64", "float32"}, default="float64"
        Precision of the network.
    device : str, default="auto"
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    callbacks : list of skorch callbacks, default=None
        Extra callbacks for the gradient solvers, copied before training.
    verbose : int, default=0
        ``1`` prints skorch's epoch table; ``2`` adds a progress bar.
    random_state : int, RandomState instance or None, default=None
        Seeds the random directions and the order of mini-batches.

    Attributes
    ----------
    net_ : skorch.NeuralNetRegressor
        The fitted net; ``net_.module_`` is the
        :class:`~sklearn_attnpoly.AttentionPolynomialNetwork`. For
        ``"lstsq"`` it only predicts and has no optimizer (``optimizer=None``);
        ``predict`` calls the module itself.
    n_directions_ : int
        Rows of ``F`` (for ``"varpro"`` with ``n_directions=None``, the
        number chosen).
    alpha_ : float
        The readout's ridge strength (for ``"varpro"`` with ``alpha=None``,
        the one leave-one-out chose at the last refit).
    validation_score_ : ndarray of shape (n_steps,)
        ``"varpro"``'s held-out score after each growth step, when it chose
        the number of directions; the kept step is its first maximum.
    device_ : str
        The device the network lives on.
    n_outputs_ : int
        Number of targets.
    n_iter_ : int
        Epochs run (``"sgd"``, ``"adam"``), L-BFGS iterations (``"varpro"``,
        every refit counted) or 1, one closed-form solve (``"lstsq"``).
    loss_curve_ : list of float
        Training loss per epoch, on standardised targets (``"sgd"``,
        ``"adam"``), or ``"varpro"``'s reduced loss after each iteration of its
        refits, in order.
    guard_radius_ : float
        The radius, in scaled units, the blocks were built for.
    target_range_ : ndarray of shape (2, n_outputs)
        The smallest and largest training target per output (absent for
        :meth:`from_polynomial`). ``predict`` warns with an
        :class:`ExtrapolationWarning` for rows predicted beyond this range
        widened by its width on each side: a polynomial fitted to data can
        explode off it, even on rows whose every feature lies in its
        training range.
    error_bound_ : float or ndarray of shape (n_outputs,)
        A bound (a float for a single output, as ``intercept_`` is in
        scikit-learn's linear models), in the target's units, on how far the
        network's predictions can be from the hardmax network's with the same
        parameters, for every input within the guard radius (0 for
        ``"hardmax"``), computed in exact arithmetic from the blocks'
        certified gaps, the directions and the readout's coefficients (block
        1's deficit times a bound on the polynomial the readout makes of it,
        plus the later blocks' worst cases; :doc:`/theory`). ``predict`` warns
        with a :class:`BoltzmannErrorWarning` when it (scaled for rows beyond
        the guard radius) exceeds 1e-6 (float64) or 1e-3 (float32) of the
        largest ``|prediction|``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string column names.

    See Also
    --------
    sklearn.neural_network.MLPRegressor : A ReLU network, for comparison.
    sklearn.preprocessing.PolynomialFeatures : Explicit monomials for a linear model.

    Notes
    -----
    The frozen blocks are exact while the inputs stay inside the guard radius;
    see ``out_of_bound``. Beyond it a block's one-hot maximum may pick another
    token's score, and the network's own output is no longer the polynomial.

    A ``fit`` that raises leaves the estimator as it was: unfitted, or with
    its previous fit. A gradient run whose training loss ends more than twice
    its lowest (the start included) keeps the parameters of its best epoch
    and warns with a :class:`~sklearn.exceptions.ConvergenceWarning`.

    References
    ----------
    Z. Fang, D.-X. Zhou, Y. Ouyang and G. Cheng, "Attention Enables Zero
    Approximation Error", 2022.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_attnpoly import AttentionPolynomialRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 2))
    >>> y = X[:, 0] ** 2 - 3 * X[:, 0] * X[:, 1] + 1
    >>> est = AttentionPolynomialRegressor(degree=2).fit(X, y)
    >>> est.predict([[1.0, 0.5]]).round(6)
    array([0.5])
    >>> {k: round(v, 6) for k, v in est.to_polynomial().items() if abs(v) > 1e-9}
    {(0, 0): 1.0, (2, 0): 1.0, (1, 1): -3.0}
    """

    _parameter_constraints: dict = {
        "degree": [Interval(Integral, 1, None, closed="left")],
        "n_directions": [None, Interval(Integral, 1, None, closed="left")],
        "solver": [StrOptions({"lstsq", "varpro", "sgd", "adam"})],
        "alpha": [None, Interval(Real, 0, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "validation_tol": [Interval(Real, 0, None, closed="left")],
        "scoring": [None, StrOptions({"r2", "neg_mean_squared_error"}), callable],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "engine": [StrOptions({"structured", "dense"})],
        "bound": [Interval(Real, 0, None, closed="neither")],
        "headroom": [Interval(Real, 1, None, closed="left")],
        "scaling": [StrOptions({"ball", "none"})],
        "out_of_bound": [StrOptions({"extend", "warn", "raise", "clip"})],
        "attention": [StrOptions({"hardmax", "boltzmann"})],
        "inverse_temperature": [Interval(Real, 0, None, closed="neither")],
        "beta": [
            Interval(Real, 0, None, closed="neither"),
            Hidden(StrOptions({"deprecated"})),
        ],
        "readout_init": [StrOptions({"lstsq", "zeros"})],
        "dtype": [StrOptions({"float64", "float32"})],
        "device": [str],
        "callbacks": [None, list, tuple],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        degree=2,
        *,
        n_directions=None,
        solver="lstsq",
        alpha=None,
        max_epochs=100,
        max_iter=200,
        tol=1e-5,
        validation_fraction=0.1,
        n_iter_no_change=2,
        validation_tol=1e-2,
        scoring=None,
        lr=0.03,
        batch_size=256,
        engine="structured",
        scaling="ball",
        bound=1.0,
        headroom=2.0,
        out_of_bound="extend",
        attention="hardmax",
        inverse_temperature=40.0,
        beta="deprecated",
        readout_init="lstsq",
        dtype="float64",
        device="auto",
        callbacks=None,
        verbose=0,
        random_state=None,
    ):
        self.degree = degree
        self.n_directions = n_directions
        self.solver = solver
        self.alpha = alpha
        self.max_epochs = max_epochs
        self.max_iter = max_iter
        self.tol = tol
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.validation_tol = validation_tol
        self.scoring = scoring
        self.lr = lr
        self.batch_size = batch_size
        self.engine = engine
        self.scaling = scaling
        self.bound = bound
        self.headroom = headroom
        self.out_of_bound = out_of_bound
        self.attention = attention
        self.inverse_temperature = inverse_temperature
        self.beta = beta
        self.readout_init = readout_init
        self.dtype = dtype
        self.device = device
        self.callbacks = callbacks
        self.verbose = verbose
        self.random_state = random_state

    # -- fit / predict ---------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    @unchanged_on_error
    def fit(self, X, y, sample_weight=None):
        """Fit ``F``, ``beta`` and ``b`` to the data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs; a :mod:`dask.array` is fitted from its chunks'
            moments (``solver="lstsq"``).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Training targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights; rows of weight zero are ignored.

        Returns
        -------
        self : object
            Fitted; if ``fit`` raises, the estimator is left as it was.
        """
        return self._fit(X, y, sample_weight, incremental=False)

    @available_if(_has_moments_solver)
    @_fit_context(prefer_skip_nested_validation=True)
    @unchanged_on_error
    def partial_fit(self, X, y, sample_weight=None):
        """Add rows to the data's moments and refit on every row seen so far.

        For ``solver="lstsq"`` only. The rows are kept as their weighted
        moments (:attr:`moments_`, float64): after any number of calls the
        model is the one :meth:`fit` gives on all the rows at once, to
        rounding. The ``p x p`` system of the moments is solved once, at the
        first :meth:`predict`, :meth:`score`, :meth:`to_polynomial`,
        :meth:`to_ridge_form` or :attr:`error_bound_` after the last call,
        not at every call (at the paper's f2 size it costs about as much as a
        batch of 100 000 rows); until then the network's attributes
        (``net_``, ``scaling_``, ...) are absent.

        The first call fixes ``n_features_in_``, the number of targets and
        the frame of the sums (its batch's scaling); later rows are summed
        exactly however far out, and the model is built for a radius that
        holds every row. A call after :meth:`fit` starts a new sum. A call,
        or a solve, that raises changes nothing.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A batch of rows.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Their targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Their non-negative weights; rows of weight zero add nothing.

        Returns
        -------
        self : object
            The estimator, refitted on every row so far.
        """
        return self._fit(X, y, sample_weight, incremental=True)

    def _fit(self, X, y, sample_weight, incremental):
        """The one fit path: validate, scale, dispatch, store."""
        dask = is_dask_array(X)
        source = "Dask arrays" if dask else "partial_fit" if incremental else "rows"
        check_solver_options(self.solver, self.n_directions, self.scaling, source)
        moments = vars(self).pop("moments_", None)
        if not incremental:  # fit, or Dask: a new sum
            moments = None
        if dask:
            moments = dask_moments(X, y, sample_weight, degree=self.degree)
        else:
            X, Y, w = validate_fit_data(
                self, X, y, sample_weight, reset=moments is None
            )
        if incremental:  # the solve waits for the first prediction
            self.moments_ = accumulate_batch(
                moments, X, Y, w, degree=self.degree, bound=self.bound
            )
            clear_network(self)
            return self
        if moments is not None:
            return fit_from_accumulated(self, moments)
        scaling, target_scaling, radius = fit_frames(X, Y, w, self.scaling, self.bound)
        spec, rng, directions = self._start(X.shape, radius)
        fit = fit_network(
            scaling.transform(X),
            target_scaling.transform(Y),
            w,
            spec=spec,
            solver=self.solver,
            directions=directions,
            alpha=self.alpha,
            rng=rng,
            n_directions=self.n_directions,
            max_iter=self.max_iter,
            tol=self.tol,
            readout_init=self.readout_init,
            scale_slots=self.readout_init == "zeros" and self.scaling == "ball",
            validation=dict(
                validation_fraction=self.validation_fraction,
                n_iter_no_change=self.n_iter_no_change,
                validation_tol=self.validation_tol,
                scoring=self.scoring or "r2",
            ),
            training=dict(
                lr=self.lr,
                max_epochs=self.max_epochs,
                batch_size=self.batch_size,
                callbacks=copy.deepcopy(list(self.callbacks or [])),
                verbose=self.verbose,
            ),
        )
        return store_network(
            self,
            fit,
            spec=spec,
            scaling=scaling,
            target_scaling=target_scaling,
            n_features=X.shape[1],
            n_samples=len(X),
            target_range=np.stack([Y.min(axis=0), Y.max(axis=0)]),
        )

    def predict(self, X):
        """Predict with the fitted network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs; rows beyond the guard radius are handled as
            ``out_of_bound`` says.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The predictions.
        """
        self._check_solved()
        X = validate_data(self, X, reset=False, dtype=np.float64)
        X_scaled, exponents = apply_out_of_bound_policy(
            self.scaling_.transform(X), self.guard_radius_, self.out_of_bound
        )
        module = self.net_.module_
        Y = self.target_scaling_.inverse_transform(
            network_output(module, X_scaled, exponents)
        )
        check_prediction_precision(module, exponents, Y, self.target_scaling_.scale)
        if hasattr(self, "target_range_"):
            check_extrapolation(Y, self.target_range_)
        return Y[:, 0] if self.n_outputs_ == 1 else Y

    @property
    def error_bound_(self):
        """Bound on the distance from the hardmax network.

        See the class's Attributes.
        """
        self._check_solved()
        bound = self.net_.module_.error_bound() * self.target_scaling_.scale
        return float(bound[0]) if self.n_outputs_ == 1 else bound

    # -- helpers ---------------------------------------------------------------

    def _check_solved(self):
        """``check_is_fitted``, then the solve that :meth:`partial_fit` leaves
        to the first prediction: the moments summed so far are solved once,
        however many batches they hold (a solve that raises sets nothing)."""
        check_is_fitted(self)
        if "net_" not in vars(self):
            fit_from_accumulated(self, self.moments_)

    def _start(self, shape, radius):
        """Before a solve: the size and precision checks, then the network's
        specification, the random state and the fixed or initial directions."""
        device = resolve_device(self.device)
        check_fit_size(
            shape,
            solver=self.solver,
            degree=self.degree,
            n_directions=self.n_directions,
            engine=self.engine,
            batch_size=self.batch_size,
            dtype=DTYPES[self.dtype],
            device=device,
            readout_init=self.readout_init,
            attention=self.attention,
        )
        check_guard_precision(radius, self.headroom, self.degree, DTYPES[self.dtype])
        rng = check_random_state(self.random_state)
        directions = initial_directions(
            self.solver, shape[1], self.degree, self.n_directions, rng
        )
        return self._spec(self.headroom * radius, device), rng, directions

    def _spec(self, radius, device):
        """What this estimator's network is built with."""
        inverse_temperature = self.inverse_temperature
        if self.beta != "deprecated":
            warnings.warn(
                "'beta' was renamed 'inverse_temperature' in 0.2 and will be "
                "removed in 0.4; pass inverse_temperature instead.",
                FutureWarning,
                stacklevel=5,
            )
            inverse_temperature = self.beta
        return NetworkSpec(
            self.degree,
            float(radius),
            engine=self.engine,
            dtype=DTYPES[self.dtype],
            attention=self.attention,
            inverse_temperature=inverse_temperature,
            device=device,
        )

    def __setstate__(self, state):
        # skorch maps a net saved on a GPU to the CPU when none is available
        # (with a DeviceWarning); the fitted device follows the net.
        super().__setstate__(state)
        if "net_" in state:
            self.device_ = str(self.net_.device)


def fit_from_accumulated(estimator, moments):
    """Fit ``estimator`` (an :class:`AttentionPolynomialRegressor`) in closed
    form from accumulated moments: its ``partial_fit`` and Dask arrays, and
    the cross-validated estimator's refit, with no pass over the rows."""
    scaling = moments.scaling(estimator.bound)
    target_scaling = moments.target_scaling()
    shape = (moments.n_samples, moments.n_features)
    spec, _, directions = estimator._start(shape, estimator.bound)
    fit = fit_from_moments(
        moments.in_units(scaling, target_scaling),
        spec=spec,
        directions=directions,
        alpha=estimator.alpha,
    )
    return store_network(
        estimator,
        fit,
        spec=spec,
        scaling=scaling,
        target_scaling=target_scaling,
        n_features=moments.n_features,
        n_samples=moments.n_samples,
        target_range=np.stack([moments.target_low, moments.target_high]),
    )
