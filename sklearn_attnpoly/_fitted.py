"""A fitted attention-polynomial model's state, set in one place.

Every way to a fitted :class:`~sklearn_attnpoly.AttentionPolynomialRegressor`
(its ``fit`` and ``partial_fit``, ``from_polynomial``, and the refit of the
cross-validated estimator) ends here, with a solver's
:class:`~sklearn_attnpoly._solvers._dispatch.NetworkFit`: the network is built
from its arrays, or, for the gradient solvers, is the net they trained.
"""

import copy

import numpy as np

from ._solvers._training import make_net

#: The fitted attributes a solver may leave or not; removed when the new fit
#: has none, so that no attribute of an earlier fit survives a refit.
_OPTIONAL = ("alpha_", "loss_curve_", "target_range_", "validation_score_")
#: Every attribute :func:`store_network` sets but the data's own.
NETWORK_ATTRIBUTES = (
    "net_",
    "scaling_",
    "target_scaling_",
    "guard_radius_",
    "n_outputs_",
    "n_directions_",
    "device_",
    "n_iter_",
    *_OPTIONAL,
)


def store_network(
    estimator,
    fit,
    *,
    spec,
    scaling,
    target_scaling,
    n_features,
    n_samples=0,
    target_range=None,
):
    """Set ``estimator``'s fitted attributes from a solver's result.

    Parameters
    ----------
    estimator : AttentionPolynomialRegressor
        Its parameters ``solver``, ``lr``, ``max_epochs``, ``batch_size``,
        ``callbacks`` and ``verbose`` make the net around the network.
    fit : NetworkFit
    spec : NetworkSpec
        What the network is built with (its radius is the guard radius).
    scaling, target_scaling : AffineScaling, TargetScaling
        The frames the network works in.
    n_features : int
    n_samples : int, default=0
        The training rows (the gradient solvers' schedule length).
    target_range : ndarray of shape (2, n_outputs), default=None
        The smallest and largest training target per output (None for a
        model built from a polynomial, with no training rows).
    """
    n_outputs = len(fit.intercept)
    net = fit.net
    if net is None:
        module = spec.build(
            fit.directions,
            n_outputs,
            readout=fit.readout,
            intercept=fit.intercept,
            mask=fit.mask,
            slot_scale=fit.slot_scale,
        )
        net = make_net(
            module,
            solver=estimator.solver,
            lr=estimator.lr,
            max_epochs=estimator.max_epochs,
            batch_size=estimator.batch_size,
            n_samples=max(n_samples, 1),
            device=spec.device,
            callbacks=copy.deepcopy(list(estimator.callbacks or [])),
            verbose=estimator.verbose,
            seed=0,  # the net only predicts: the trained nets come with the fit
        )
    estimator.net_ = net
    estimator.n_features_in_ = n_features
    estimator.scaling_, estimator.target_scaling_ = scaling, target_scaling
    estimator.guard_radius_ = spec.radius
    estimator.n_outputs_ = n_outputs
    estimator.n_directions_ = len(fit.directions)
    estimator.device_ = spec.device
    estimator.n_iter_ = int(fit.n_iter)
    for name in _OPTIONAL:
        vars(estimator).pop(name, None)
    if fit.loss_curve is not None:
        estimator.loss_curve_ = [float(v) for v in fit.loss_curve]
    if fit.alpha is not None:
        estimator.alpha_ = float(fit.alpha)
    if fit.validation_scores is not None:
        estimator.validation_score_ = np.asarray(fit.validation_scores)
    if target_range is not None:
        estimator.target_range_ = np.asarray(target_range, dtype=float)
    return estimator


def clear_network(estimator):
    """Remove a fitted network and what describes it (:data:`NETWORK_ATTRIBUTES`),
    leaving the data's own fitted attributes (``n_features_in_``, ``moments_``)."""
    for name in NETWORK_ATTRIBUTES:
        vars(estimator).pop(name, None)
