"""The one place that checks which options go with which solver, and calls it.

As scikit-learn's ``_ridge_regression`` does for ``Ridge``: the estimator
validates and scales its data, then calls :func:`fit_network` (rows in memory)
or :func:`fit_from_moments` (the sums of ``partial_fit``, of a Dask array, or
of the cross-validated refit); each solver takes arrays and returns a
:class:`NetworkFit`, from which the estimator builds its network in one place.
No solver sees an estimator.

- ``"lstsq"``: the directions fixed (the lattice, or random ones), the
  readout a ridge polynomial in closed form
  (:mod:`~sklearn_attnpoly._solvers._readout`);
- ``"varpro"``: the directions learned by variable projection
  (:mod:`~sklearn_attnpoly._solvers._varpro`);
- ``"sgd"``, ``"adam"``: every parameter trained by gradient steps through the
  frozen blocks, from the closed-form readout or from zeros
  (:mod:`~sklearn_attnpoly._solvers._training`).
"""

from dataclasses import dataclass

import numpy as np
import torch

from .._sizes import check_fit_memory
from ..attention import lattice_directions, network_parameters
from ._readout import readout_from_moments, solve_readout
from ._training import make_net, slot_sizes, train_network
from ._varpro import ALPHAS, ReducedLoss, fit_varpro, max_directions

SOLVERS = ("lstsq", "varpro", "sgd", "adam")
#: The ridge of ``alpha=None`` for the closed form and the gradient solvers'
#: start: a numerical safeguard, not a regulariser.
SAFEGUARD_ALPHA = 1e-8
GRADIENT_SOLVERS = ("sgd", "adam")


@dataclass
class NetworkFit:
    """What a solver found: the network's parameters and what it did.

    Attributes
    ----------
    directions : ndarray of shape (n, d)
        The rows of ``F``.
    readout : ndarray of shape (n, q, n_outputs)
        The network's ``beta`` parameter.
    intercept : ndarray of shape (n_outputs,)
    mask : ndarray of shape (n, q) of bool or None
        The readout entries allowed to be non-zero (all when None).
    slot_scale : ndarray of shape (q,) or None
        The readout's per-degree divisor (ones when None).
    n_iter : int
        Closed-form solves (1), L-BFGS iterations, or epochs.
    loss_curve : list of float or None
        The training loss per iteration or epoch (None for the closed form).
    net : skorch net or None
        The gradient solvers' trained net, history and callbacks included.
    alpha : float or None
        The readout's ridge, as ``Ridge``'s ``alpha`` on standardised
        features (None: the one the solver was given).
    validation_scores : ndarray or None
        ``"varpro"``'s held-out score after each growth step, when it chose
        the number of directions.
    """

    directions: np.ndarray
    readout: np.ndarray
    intercept: np.ndarray
    mask: np.ndarray | None = None
    slot_scale: np.ndarray | None = None
    n_iter: int = 1
    loss_curve: list | None = None
    net: object = None
    alpha: float | None = None
    validation_scores: np.ndarray | None = None


def check_solver_options(solver, n_directions, scaling, source="rows"):
    """Raise a ValueError for options that do not go with ``solver``.

    Parameters
    ----------
    solver : {"lstsq", "varpro", "sgd", "adam"}
    n_directions : int or None
    scaling : {"ball", "none"}
    source : {"rows", "partial_fit", "Dask arrays"}, default="rows"
        Where the data come from: rows in memory, or sums of moments.
    """
    if source != "rows":
        if solver != "lstsq":
            raise ValueError(
                f"{source} are fitted from the data's moments, which needs "
                f"solver='lstsq'; got solver={solver!r}."
            )
        if scaling != "ball":
            raise ValueError(
                f"{source} sum the data's moments in the frame of the scaled "
                f"units, which needs scaling='ball'; got scaling={scaling!r}."
            )


def check_fit_size(shape, *, solver, degree, n_directions, engine, batch_size,
                   dtype, device, readout_init, attention):  # fmt: skip
    """Refuse, before anything is enumerated, a fit that cannot fit in memory
    (:func:`~sklearn_attnpoly._sizes.check_fit_memory`, with what ``solver``
    holds: the monomials of the closed-form readout for ``"lstsq"`` and the
    gradient solvers' start, a training batch's backward pass for those)."""
    n_samples, n_features = shape
    gradient = solver in GRADIENT_SOLVERS
    if solver == "varpro" and n_directions is None:  # chosen, up to the cap
        n_directions = max_directions(n_samples, n_features, degree)
    check_fit_memory(
        n_features,
        degree,
        n_directions,
        engine=engine,
        batch_rows=min(batch_size, n_samples) if gradient else 1,
        dtype=dtype,
        device=device,
        monomials=solver == "lstsq" or (gradient and readout_init == "lstsq"),
        attention=attention,
        n_samples=n_samples,
        gradients=gradient,
    )


def initial_directions(solver, n_features, degree, n_directions, rng):
    """The fixed or initial rows of ``F``: the lattice directions of Lemma 3.3
    (``n_directions=None``), or ``n_directions`` random unit vectors; None for
    ``"varpro"``, which learns its own."""
    if solver == "varpro":
        return None
    if n_directions is None:
        return lattice_directions(n_features, degree)
    directions = rng.standard_normal((n_directions, n_features))
    return directions / np.linalg.norm(directions, axis=1, keepdims=True)


def fit_network(
    X,
    Y,
    sample_weight,
    *,
    spec,
    solver,
    directions,
    alpha,
    rng,
    n_directions=None,
    max_iter=200,
    tol=1e-5,
    readout_init="lstsq",
    scale_slots=False,
    training=None,
    validation=None,
):
    """Fit the network's parameters to scaled rows with ``solver``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Scaled inputs, inside the blocks' radius.
    Y : ndarray of shape (n_samples, n_outputs)
        Scaled targets.
    sample_weight : ndarray of shape (n_samples,)
        Positive weights.
    spec : NetworkSpec
        What the network is built with.
    solver : {"lstsq", "varpro", "sgd", "adam"}
    directions : ndarray of shape (n, n_features) or None
        The fixed or initial rows of ``F`` (None for ``"varpro"``, which
        learns ``n_directions`` of them).
    alpha : float or None
        The readout's ridge strength, as ``Ridge``'s ``alpha`` on the
        standardised features; None: ``1e-8`` (a numerical safeguard), and
        for ``"varpro"`` the one leave-one-out chooses over its grid at each
        refit.
    rng : numpy.random.RandomState
    n_directions : int, default=None
        ``"varpro"``'s number of directions; None chooses it on held-out rows.
    max_iter, tol : ``"varpro"``'s L-BFGS budget and stopping rule.
    readout_init : {"lstsq", "zeros"}, default="lstsq"
        The gradient solvers' start.
    scale_slots : bool, default=False
        Whether a gradient run from zeros trains each slot's coefficient
        divided by the slot's size.
    training : dict, default=None
        The gradient solvers' :func:`make_net` options (``lr``,
        ``max_epochs``, ``batch_size``, ``callbacks``, ``verbose``).
    validation : dict, default=None
        ``"varpro"``'s choice of size (``validation_fraction``,
        ``n_iter_no_change``, ``validation_tol``, ``scoring``), as
        :func:`~sklearn_attnpoly._solvers._varpro.fit_varpro` takes them.

    Returns
    -------
    NetworkFit
    """
    n_outputs = Y.shape[1]
    if solver == "varpro":
        options = dict(max_iter=max_iter, tol=tol, rng=rng, **(validation or {}))
        return _fit_varpro(X, Y, sample_weight, spec, n_directions, alpha, options)
    alpha = SAFEGUARD_ALPHA if alpha is None else alpha
    if solver == "lstsq":
        readout = solve_readout(X, Y, sample_weight, directions, spec.degree, alpha)
        return _closed_form(directions, readout, alpha)
    if readout_init == "lstsq":
        start = solve_readout(X, Y, sample_weight, directions, spec.degree, alpha)
        beta, b = start.beta, start.intercept
    else:
        beta, b = np.zeros((len(directions), spec.degree, n_outputs)), None
    module = spec.build(directions, n_outputs, readout=beta, intercept=b)
    seed = int(rng.randint(np.iinfo(np.int32).max))
    if scale_slots:  # the same function: beta in the scaled slots' units
        scale = slot_sizes(module, X, sample_weight, rng)
        with torch.no_grad():
            module.slot_scale.copy_(torch.as_tensor(scale))
            module.beta.mul_(module.slot_scale[:, None])
    net = make_net(
        module,
        solver=solver,
        n_samples=len(X),
        device=spec.device,
        seed=seed,
        **training,
    )
    n_iter, loss_curve = train_network(net, X, Y, sample_weight)
    return NetworkFit(
        **network_parameters(net.module_),
        n_iter=n_iter,
        loss_curve=loss_curve,
        net=net,
        alpha=alpha,
    )


def fit_from_moments(moments, *, spec, directions, alpha):
    """The closed-form fit from accumulated moments (``partial_fit``, Dask
    arrays, the cross-validated refit).

    Parameters
    ----------
    moments : MomentAccumulator
        In the network's units (:meth:`~MomentAccumulator.in_units`).
    spec : NetworkSpec
    directions : ndarray of shape (n, n_features)
    alpha : float or None
        None: ``1e-8``.

    Returns
    -------
    NetworkFit
    """
    alpha = SAFEGUARD_ALPHA if alpha is None else alpha
    readout = readout_from_moments(moments, directions, spec.degree, alpha)
    return _closed_form(directions, readout, alpha)


def _fit_varpro(X, Y, sample_weight, spec, n_directions, alpha, options):
    """Learn the directions by variable projection; the readout is the ridge
    they leave on their slots. ``alpha`` is ``Ridge``'s, against the raw
    weights; the solver's is for weights that sum to 1."""
    total = float(sample_weight.sum())
    module = spec.build(np.zeros((n_directions or 1, X.shape[1])), Y.shape[1])
    own = SAFEGUARD_ALPHA if alpha is None else alpha / total
    loss = ReducedLoss(module, X, Y, sample_weight, own)
    alphas = ALPHAS if alpha is None else None
    result = fit_varpro(loss, n_directions, alphas=alphas, **options)
    return NetworkFit(
        result.F,
        result.beta,
        result.b,
        n_iter=result.n_iter,
        loss_curve=result.loss_curve,
        alpha=result.alpha_ * total,
        validation_scores=result.validation_score_,
    )


def _closed_form(directions, readout, alpha):
    """The :class:`NetworkFit` of a closed-form :class:`Readout`."""
    return NetworkFit(
        directions, readout.beta, readout.intercept, readout.mask, alpha=alpha
    )
