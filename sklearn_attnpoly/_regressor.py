"""The scikit-learn estimator around the network of Theorem 3.5."""

import copy
import inspect
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import (
    _check_sample_weight,
    check_array,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from ._device import resolve_device
from ._guard import (
    apply_out_of_bound_policy,
    check_boltzmann_error,
    check_extension_precision,
    check_guard_precision,
)
from ._polynomial import (
    monomial_exponents,
    substitute_affine,
    to_dict,
    validate_coefficients,
)
from ._predict import network_output
from ._scaling import AffineScaling, TargetScaling, training_radius
from ._sizes import check_fit_fits
from ._solvers._dask import dask_moments, is_dask_array
from ._solvers._incremental import accumulate_batch
from ._solvers._readout import fit_readout, readout_from_moments
from ._solvers._skorch import training_record
from ._solvers._training import make_net
from ._solvers._varpro import ReducedLoss, fit_directions
from ._transaction import unchanged_on_error
from .attention import AttentionPolynomialNetwork, lattice_directions, slot_signs
from .attention._directions import (
    expand_ridge_coefficients,
    select_power_slots,
    solve_ridge_coefficients,
)

_DTYPES = {"float64": torch.float64, "float32": torch.float32}


def _has_moments_solver(estimator):
    """Whether ``partial_fit`` exists: only the closed form sums moments."""
    if estimator.solver != "lstsq":
        raise AttributeError(
            "partial_fit needs solver='lstsq' (the closed-form readout, "
            f"summed from the data's moments); got solver={estimator.solver!r}."
        )
    return True


class AttentionPolynomialRegressor(RegressorMixin, BaseEstimator):
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
        that many random unit directions drawn from ``random_state`` or, for
        ``solver="varpro"``, that many directions learned from the data (an
        int is required there).
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
    alpha : float, default=1e-8
        Ridge strength. For ``"varpro"``: on the standardised slots. For
        ``"lstsq"`` (and for the warm start of the gradient solvers), as
        scikit-learn's :class:`~sklearn.linear_model.Ridge` means it: the
        readout is the polynomial that
        ``make_pipeline(StandardScaler(), PolynomialFeatures(degree,
        include_bias=False), StandardScaler(), Ridge(alpha))`` fits, with the
        sample weights passed to every step, so ``alpha`` multiplies the
        squared norm of the coefficients of the standardised monomials against
        the weighted sum of squared residuals. With random directions too few
        for some degree, the penalty is that norm for the polynomial the
        directions represent. The default is a numerical safeguard, not a
        regulariser: for ``N`` rows of weight 1 it adds ``1e-8 / N`` to the unit
        diagonal of the monomials' correlation matrix.
    max_epochs : int, default=100
        Epochs of the gradient solvers (``"sgd"``, ``"adam"``).
    max_iter : int, default=200
        L-BFGS iterations of ``"varpro"``'s final refit of the directions
        (and of its last growth step); a :class:`~sklearn.exceptions.ConvergenceWarning`
        says when it stops there before ``tol``.
    tol : float, default=1e-5
        ``"varpro"`` stops refitting when its loss falls by less than ``tol``
        of itself per iteration, on average over the last 10 iterations.
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
    beta : float, default=40.0
        The Boltzmann blocks' inverse temperature, in units of each block's
        certified gap (``attention="boltzmann"``): block 1 uses ``b_1 = beta /
        C_1`` and block ``k >= 2`` ``b_k = (beta + 8) / Delta_k``, so that
        block 1's deficit, the same at every input, sets the error. Larger is
        closer to the hardmax; the error falls like ``e^-beta``.
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
        Rows of ``F``.
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
    error_bound_ : ndarray of shape (n_outputs,)
        A bound, in the target's units, on how far the network's predictions
        can be from the hardmax network's with the same parameters, for every
        input within the guard radius (0 for ``"hardmax"``), computed in exact
        arithmetic from the blocks' certified gaps, the directions and the
        readout's coefficients (block 1's deficit times a bound on the
        polynomial the readout makes of it, plus the later blocks' worst
        cases; :doc:`/theory`). ``predict`` warns with a
        :class:`BoltzmannErrorWarning` when it (scaled for rows beyond the
        guard radius) exceeds 1e-6 (float64) or 1e-3 (float32) of the largest
        ``|prediction|``.
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
        "alpha": [Interval(Real, 0, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "engine": [StrOptions({"structured", "dense"})],
        "bound": [Interval(Real, 0, None, closed="neither")],
        "headroom": [Interval(Real, 1, None, closed="left")],
        "scaling": [StrOptions({"ball", "none"})],
        "out_of_bound": [StrOptions({"extend", "warn", "raise", "clip"})],
        "attention": [StrOptions({"hardmax", "boltzmann"})],
        "beta": [Interval(Real, 0, None, closed="neither")],
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
        alpha=1e-8,
        max_epochs=100,
        max_iter=200,
        tol=1e-5,
        lr=0.03,
        batch_size=256,
        engine="structured",
        scaling="ball",
        bound=1.0,
        headroom=2.0,
        out_of_bound="extend",
        attention="hardmax",
        beta=40.0,
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
        self.lr = lr
        self.batch_size = batch_size
        self.engine = engine
        self.scaling = scaling
        self.bound = bound
        self.headroom = headroom
        self.out_of_bound = out_of_bound
        self.attention = attention
        self.beta = beta
        self.readout_init = readout_init
        self.dtype = dtype
        self.device = device
        self.callbacks = callbacks
        self.verbose = verbose
        self.random_state = random_state

    # -- construction --------------------------------------------------------

    @classmethod
    def from_polynomial(
        cls,
        coefficients,
        *,
        radius=1.0,
        engine="structured",
        dtype="float64",
        attention="hardmax",
        beta=40.0,
    ):
        """A fitted estimator whose network is exactly the given polynomial.

        The construction of Theorem 3.5: the lattice directions of Lemma 3.3
        as ``F``, ``beta`` solved from Lemma 3.3's linear systems, ``b = Q(0)``.

        Parameters
        ----------
        coefficients : dict of tuple to float
            ``{exponents: coefficient}``; ``{(2, 0): 1.0, (0, 2): 1.0}`` is
            ``x1**2 + x2**2``.
        radius : float, default=1.0
            ``predict`` equals the polynomial (up to rounding) for every
            ``||x|| <= radius``; the blocks hold up to ``headroom * radius``.
        engine : {"structured", "dense"}, default="structured"
            As the estimator's.
        dtype : {"float64", "float32"}, default="float64"
            As the estimator's.
        attention : {"hardmax", "boltzmann"}, default="hardmax"
            As the estimator's: ``"boltzmann"`` builds the softmax network of
            the same polynomial, within :attr:`error_bound_` of it.
        beta : float, default=40.0
            As the estimator's.

        Returns
        -------
        AttentionPolynomialRegressor
            Fitted, with ``degree`` the polynomial's degree.

        Examples
        --------
        >>> from sklearn_attnpoly import AttentionPolynomialRegressor
        >>> est = AttentionPolynomialRegressor.from_polynomial(
        ...     {(2, 0): 1.0, (0, 2): 1.0}, radius=10.0)
        >>> est.predict([[3.0, 4.0]]).round(9)
        array([25.])
        """
        n_features, degree, coef = validate_coefficients(coefficients)
        if not isinstance(radius, Real) or not np.isfinite(radius) or radius <= 0:
            raise ValueError(f"radius must be a finite number > 0; got {radius!r}.")
        est = cls(
            degree=degree, engine=engine, dtype=dtype, attention=attention, beta=beta
        )
        est._validate_params()
        exponents = monomial_exponents(n_features, degree)
        unit = radius / est.bound  # x = unit * x_tilde
        coef_scaled = coef * unit ** exponents.sum(axis=1)
        directions = lattice_directions(n_features, degree)
        mask = select_power_slots(directions, degree)
        degrees = exponents.sum(axis=1)
        parts = [coef_scaled[degrees == s] for s in range(1, degree + 1)]
        beta = solve_ridge_coefficients(directions, parts) * slot_signs(degree)
        est.guard_radius_ = est.headroom * est.bound
        module = est._build(directions, mask, n_outputs=1, device="cpu")
        with torch.no_grad():
            module.beta.copy_(torch.as_tensor(beta[..., None]))
            module.b.fill_(coef_scaled[0])
        est.n_features_in_ = n_features
        est.scaling_ = AffineScaling(np.zeros(n_features), np.full(n_features, unit))
        est.target_scaling_ = TargetScaling(np.zeros(1), np.ones(1))
        est._finish(module, n_outputs=1, n_samples=0, device="cpu")
        return est

    def to_polynomial(self):
        """The fitted network expanded into ``{exponents: coefficient}``.

        Every monomial of degree at most ``degree`` is listed, in the caller's
        input and target units (all scaling undone).

        Returns
        -------
        dict of tuple to float, or list of such dicts
            One dict per target when ``y`` had several columns.

        Raises
        ------
        ValueError
            When a coefficient in the caller's units overflows float64 (inputs
            of scale ``1e155`` make a degree-2 coefficient about ``1e-310``
            times a term of ``1e310``); ``predict`` is not affected.
        """
        check_is_fitted(self)
        module = self.net_.module_
        F = module.F.detach().cpu().double().numpy()
        beta = module.readout().detach().cpu().double().numpy()
        beta = beta * slot_signs(self.degree)[None, :, None]  # coefficients of t^k
        parts = expand_ridge_coefficients(F, beta)
        b = module.b.detach().cpu().double().numpy()
        coef = np.concatenate([b[None, :], *parts])
        coef = coef * self.target_scaling_.scale
        coef[0] += self.target_scaling_.mean
        exponents = monomial_exponents(self.n_features_in_, self.degree)
        try:
            with np.errstate(over="raise", divide="raise", invalid="raise"):
                coef = substitute_affine(
                    coef, exponents, self.scaling_.shift, self.scaling_.scale
                )
        except FloatingPointError:
            shift, scale = self.scaling_.shift, self.scaling_.scale
            raise ValueError(
                "The fitted polynomial's coefficients in the units of X "
                "overflow float64: the powers up to degree "
                f"{self.degree} of X's mean (up to {np.abs(shift).max():.3g}) "
                f"and scale ({scale.min():.3g} to {scale.max():.3g}) do not "
                "fit. Rescale X to list them; predict is not affected."
            ) from None
        polys = [to_dict(coef[:, o], exponents) for o in range(coef.shape[1])]
        return polys[0] if self.n_outputs_ == 1 else polys

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
        for name in ("moments_", "_moments_pending"):  # partial_fit's sums end
            self.__dict__.pop(name, None)
        if is_dask_array(X):
            self._check_moments_scaling("Dask arrays")
            return self._fit_moments(dask_moments(self, X, y, sample_weight))
        if self.solver == "varpro" and self.n_directions is None:
            raise ValueError(
                "solver='varpro' learns n_directions directions from the data; "
                "set n_directions to an int (the lattice directions of "
                "n_directions=None need no learning: use solver='lstsq')."
            )
        X, Y, sample_weight = self._validate_fit_data(X, y, sample_weight)
        device = resolve_device(self.device)
        self._check_sizes(X.shape, device)
        if self.scaling == "ball":
            scaling = AffineScaling.fit(X, sample_weight, self.bound)
            target_scaling = TargetScaling.fit(Y, sample_weight)
            radius = self.bound
        else:  # the data as given: the blocks are built for its own radius
            scaling = AffineScaling(np.zeros(X.shape[1]), np.ones(X.shape[1]))
            target_scaling = TargetScaling(np.zeros(Y.shape[1]), np.ones(Y.shape[1]))
            radius = training_radius(X)
        check_guard_precision(radius, self.headroom, self.degree, _DTYPES[self.dtype])
        rng = check_random_state(self.random_state)

        self.scaling_, self.target_scaling_ = scaling, target_scaling
        X_scaled = self.scaling_.transform(X)
        Y_scaled = self.target_scaling_.transform(Y)
        self.guard_radius_ = self.headroom * radius
        if self.solver == "varpro":
            self._fit_varpro(X_scaled, Y_scaled, sample_weight, device, rng)
            return self

        directions = self._directions(X.shape[1], rng)
        gradient = self.solver != "lstsq"
        warm_start = not gradient or self.readout_init == "lstsq"
        mask = select_power_slots(directions, self.degree) if warm_start else None
        module = self._build(
            directions, None if gradient else mask, n_outputs=Y.shape[1], device=device
        )
        if warm_start:
            readout = (
                module
                if not gradient
                else self._build(directions, mask, n_outputs=Y.shape[1], device=device)
            )
            fit_readout(readout, X_scaled, Y_scaled, sample_weight, self.alpha)
            if gradient:
                module.load_state_dict(readout.state_dict() | {"mask": module.mask})
        self._finish(
            module,
            n_outputs=Y.shape[1],
            n_samples=len(X),
            device=device,
            seed=int(rng.randint(np.iinfo(np.int32).max)),
        )
        if gradient:
            if self.readout_init == "zeros" and self.scaling == "ball":
                _scale_slots(module, X_scaled, sample_weight, rng)
            self._train(X_scaled, Y_scaled, sample_weight)
        return self

    @available_if(_has_moments_solver)
    @_fit_context(prefer_skip_nested_validation=True)
    @unchanged_on_error
    def partial_fit(self, X, y, sample_weight=None):
        """Add rows to the data's moments and refit on every row seen so far.

        For ``solver="lstsq"`` only. The rows are kept as their weighted
        moments (:attr:`moments_`, float64), so the model after any number of
        calls is the one :meth:`fit` gives on all the rows at once, to
        rounding, and memory does not grow with the rows. The ``p x p``
        system is solved when a fitted attribute is first read after a call
        (``predict``, ``score``, ``to_polynomial``, ``net_``), not at every
        call.

        The first call fixes ``n_features_in_``, the number of targets and
        the frame the moments are summed in: the first batch's scaling, which
        keeps the sums of later batches in range. It does not bound them:
        rows of any later batch are summed exactly, however far out, and the
        model is centred at the weighted mean of all rows and built for a
        radius that holds every one of them. A call after :meth:`fit` starts
        a new sum (``fit`` keeps no moments).

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
            The estimator, its moments updated.
        """
        self._check_moments_scaling("partial_fit")
        moments = self.__dict__.get("moments_")
        X, y = validate_data(
            self,
            X,
            y,
            reset=moments is None,
            multi_output=True,
            y_numeric=True,
            dtype=np.float64,
        )
        self.moments_ = accumulate_batch(
            moments, X, y, sample_weight, degree=self.degree, bound=self.bound
        )
        # the fitted model is stale: dropped, and solved again when next read
        kept = ("moments_", "n_features_in_", "feature_names_in_")
        for name in [n for n in vars(self) if _is_fitted_name(n) and n not in kept]:
            delattr(self, name)
        self._moments_pending = True
        return self

    def _fit_moments(self, moments):
        """Fit ``beta, b`` (``F`` fixed) from accumulated moments."""
        device = resolve_device(self.device)
        self._check_sizes((moments.n_samples, moments.n_features), device)
        check_guard_precision(
            self.bound, self.headroom, self.degree, _DTYPES[self.dtype]
        )
        self.n_features_in_ = moments.n_features
        self.scaling_ = moments.scaling(self.bound)
        self.target_scaling_ = moments.target_scaling()
        self.guard_radius_ = self.headroom * self.bound
        rng = check_random_state(self.random_state)
        directions = self._directions(moments.n_features, rng)
        mask = select_power_slots(directions, self.degree)
        module = self._build(
            directions, mask, n_outputs=moments.n_outputs, device=device
        )
        in_units = moments.in_units(self.scaling_, self.target_scaling_)
        readout_from_moments(module, in_units, self.alpha)
        self._finish(
            module,
            n_outputs=moments.n_outputs,
            n_samples=moments.n_samples,
            device=device,
        )
        return self

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
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        X_scaled, exponents = apply_out_of_bound_policy(
            self.scaling_.transform(X), self.guard_radius_, self.out_of_bound
        )
        Y_scaled = network_output(self.net_.module_, X_scaled, exponents)
        Y = self.target_scaling_.inverse_transform(Y_scaled)
        self._check_extension(exponents, Y)
        if self.attention == "boltzmann":
            module = self.net_.module_
            bound = module.error_bound(int(exponents.max(initial=0)))
            check_boltzmann_error(
                bound * self.target_scaling_.scale, Y, self.beta, module.F.dtype
            )
        return Y[:, 0] if self.n_outputs_ == 1 else Y

    @property
    def error_bound_(self):
        """Bound on the distance from the hardmax network, per output.

        See the class's Attributes.
        """
        return self.net_.module_.error_bound() * self.target_scaling_.scale

    # -- helpers ---------------------------------------------------------------

    def _validate_fit_data(self, X, y, sample_weight):
        """``X``, ``Y`` (2-D) and the weights of the rows of positive weight,
        in float64."""
        X, y = validate_data(
            self, X, y, multi_output=True, y_numeric=True, dtype=np.float64
        )
        # y_numeric converts only object arrays; strings fail here, in one line
        y = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        sample_weight = _check_sample_weight(
            sample_weight, X, dtype=np.float64, ensure_non_negative=True
        )
        keep = sample_weight > 0
        return X[keep], y.reshape(len(y), -1)[keep], sample_weight[keep]

    def _check_extension(self, exponents, Y):
        """Warn, or raise, for the predictions ``Y`` of rows computed beyond
        the guard radius (``exponents > 0``) by their estimated rounding."""
        if not exponents.any():
            return
        module = self.net_.module_
        error = module.rounding_error(int(exponents.max())).numpy()
        check_extension_precision(
            error * self.target_scaling_.scale,
            Y,
            int(np.count_nonzero(exponents)),
            module.F.dtype,
        )

    def _check_moments_scaling(self, what):
        if self.scaling != "ball":
            raise ValueError(
                f"{what} sum the data's moments in the frame of the scaled "
                f"units, which needs scaling='ball'; got scaling={self.scaling!r}."
            )

    def _check_sizes(self, shape, device):
        """Refuse, before enumerating anything, a fit that cannot fit."""
        n_samples, n_features = shape
        gradient = self.solver in ("sgd", "adam")
        check_fit_fits(
            n_features,
            self.degree,
            self.n_directions,
            engine=self.engine,
            batch_rows=min(self.batch_size, n_samples) if gradient else 1,
            dtype=_DTYPES[self.dtype],
            device=device,
            # the closed-form readout: lstsq, and the gradient solvers' start
            monomials=self.solver == "lstsq"
            or (gradient and self.readout_init == "lstsq"),
            attention=self.attention,
            n_samples=n_samples,
            gradients=gradient,
        )

    def _directions(self, n_features, rng):
        """The rows of ``F``: the lattice directions, or ``n_directions``
        random unit vectors."""
        if self.n_directions is None:
            return lattice_directions(n_features, self.degree)
        directions = rng.standard_normal((self.n_directions, n_features))
        return directions / np.linalg.norm(directions, axis=1, keepdims=True)

    def _fit_varpro(self, X_scaled, Y_scaled, sample_weight, device, rng):
        """Learn the directions by variable projection, then set the readout
        they leave (the ridge on their slots)."""
        n_features, n_outputs = X_scaled.shape[1], Y_scaled.shape[1]
        module = self._build(
            np.zeros((self.n_directions, n_features)),
            None,
            n_outputs=n_outputs,
            device=device,
        )
        loss = ReducedLoss(module, X_scaled, Y_scaled, sample_weight, self.alpha)
        directions, record = fit_directions(
            loss, self.n_directions, max_iter=self.max_iter, tol=self.tol, rng=rng
        )
        _, _, beta, b = loss.evaluate(directions, gradient=False)
        with torch.no_grad():  # evaluate left F = directions in the module
            module.beta.copy_(torch.as_tensor(beta))
            module.b.copy_(torch.as_tensor(b))
        self._finish(
            module, n_outputs=n_outputs, n_samples=len(X_scaled), device=device
        )
        self.n_iter_ = record["n_iter"]
        self.loss_curve_ = record["loss_curve"]

    def _train(self, X_scaled, Y_scaled, sample_weight):
        """Train ``net_`` by its gradient solver on the scaled rows, each with
        its weight (normalised to mean 1) as skorch's ``X["sample_weight"]``."""
        dtype = np.float64 if self.dtype == "float64" else np.float32
        X_dict = {
            "X": X_scaled.astype(dtype),
            "sample_weight": (sample_weight / sample_weight.mean()).astype(dtype),
        }
        self.net_.partial_fit(X_dict, Y_scaled.astype(dtype))
        self.n_iter_, self.loss_curve_ = training_record(self.net_)

    def _build(self, directions, mask, *, n_outputs, device):
        module = AttentionPolynomialNetwork(
            torch.as_tensor(directions),
            self.degree,
            radius=self.guard_radius_,
            n_outputs=n_outputs,
            engine=self.engine,
            mask=None if mask is None else torch.as_tensor(mask),
            dtype=_DTYPES[self.dtype],
            attention=self.attention,
            boltzmann_beta=self.beta,
        )
        return module.to(device)

    def _finish(self, module, *, n_outputs, n_samples, device, seed=0):
        self.n_outputs_ = n_outputs
        self.n_directions_ = module.F.shape[0]
        self.device_ = device
        self.n_iter_ = 1  # one closed-form solve; the other solvers count theirs
        self.net_ = make_net(
            module,
            solver=self.solver,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            n_samples=n_samples,
            device=device,
            callbacks=copy.deepcopy(list(self.callbacks or [])),
            verbose=self.verbose,
            seed=seed,
        )

    def __getattr__(self, name):
        # partial_fit leaves the solve for the first fitted attribute read
        # (those validate_data reads are set at every call)
        state = self.__dict__
        if (
            state.get("_moments_pending")
            and _is_fitted_name(name)
            and name not in ("n_features_in_", "feature_names_in_")
        ):
            state["_moments_pending"] = False  # no recursion from inside the solve
            before = set(state)
            try:
                self._fit_moments(state["moments_"])
            except BaseException:  # nothing half-solved stays; still to solve
                for added in set(state) - before:
                    del state[added]
                state["_moments_pending"] = True
                raise
            return getattr(self, name)
        descriptor = inspect.getattr_static(type(self), name, None)
        if descriptor is not None:  # partial_fit, off for this solver: its reason
            return descriptor.__get__(self, type(self))
        raise AttributeError(
            f"{type(self).__name__!r} object has no attribute {name!r}"
        )

    def __setstate__(self, state):
        # skorch maps a net saved on a GPU to the CPU when none is available
        # (with a DeviceWarning); the fitted device follows the net.
        super().__setstate__(state)
        if "net_" in state:
            self.device_ = str(self.net_.device)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


#: Rows the slots' sizes are measured on (see :func:`_scale_slots`).
_SLOT_SCALE_ROWS = 10000


@torch.no_grad()
def _scale_slots(module, X_scaled, sample_weight, rng):
    """Set ``module.slot_scale`` to each degree's weighted root-mean-square
    slot on (up to ``_SLOT_SCALE_ROWS`` of) the training rows.

    In the ball's units the slot of degree k is of size about ``|t|^k``, so
    from a zero readout the coefficients of high degrees need far larger
    values, and far more steps, than those of low ones. Dividing each slot by
    its size gives every coefficient a target of order one: measured on the
    paper's f1 (10 directions, 600 epochs of batch 5000 from zeros), Adam at
    ``lr=1e-2`` reaches a test MSE against the noiseless target that it does
    not reach without it (``tests/test_scaling.py``).
    """
    rows = np.arange(len(X_scaled))
    if len(rows) > _SLOT_SCALE_ROWS:
        rows = np.sort(rng.choice(len(rows), _SLOT_SCALE_ROWS, replace=False))
    x = torch.as_tensor(X_scaled[rows], dtype=module.F.dtype, device=module.F.device)
    w = torch.as_tensor(
        sample_weight[rows], dtype=module.F.dtype, device=module.F.device
    )
    squares = module.slots(x).pow(2).mean(dim=1)  # (rows, q)
    size = (w @ squares / w.sum()).sqrt()
    module.slot_scale.copy_(torch.where(size > 0, size, torch.ones_like(size)))


def _is_fitted_name(name):
    return name.endswith("_") and not name.startswith("_")
