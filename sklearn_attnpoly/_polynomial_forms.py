"""A fitted attention-polynomial model as a polynomial, and back.

:class:`PolynomialFormsMixin` gives
:class:`~sklearn_attnpoly.AttentionPolynomialRegressor` its three forms
besides the network: the exact network of a given polynomial
(``from_polynomial``), the fitted network listed in monomials
(``to_polynomial``), and as a sum of ridge polynomials (``to_ridge_form``),
all in the caller's units. The map between a polynomial and the network's
parameters itself is :mod:`~sklearn_attnpoly.attention._polynomial_map`'s.
"""

import math
import warnings
from numbers import Real

import numpy as np
import torch

from ._fitted import store_network
from ._guard import RELATIVE_TOLERANCE
from ._polynomial import (
    monomial_exponents,
    substitute_affine,
    to_dict,
    validate_coefficients,
)
from ._scaling import AffineScaling, TargetScaling
from ._sizes import check_polynomial_fits
from ._solvers._dispatch import NetworkFit
from ._warnings import PrecisionWarning
from .attention import (
    exact_readout,
    network_arrays,
    parts_from_readout,
    ridge_coefficients,
)


class PolynomialFormsMixin:
    """``from_polynomial``, ``to_polynomial`` and ``to_ridge_form`` for an
    estimator whose fitted state is set by
    :func:`~sklearn_attnpoly._fitted.store_network` and whose
    ``_check_solved`` makes sure it is."""

    @classmethod
    def from_polynomial(
        cls,
        coefficients,
        *,
        radius=1.0,
        engine="structured",
        dtype="float64",
        attention="hardmax",
        inverse_temperature=40.0,
        beta="deprecated",
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
        inverse_temperature : float, default=40.0
            As the estimator's.
        beta : float, default="deprecated"
            The former name of ``inverse_temperature``.

            .. deprecated:: 0.2
               Use ``inverse_temperature``; ``beta`` will be removed in 0.4.

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
            degree=degree,
            engine=engine,
            dtype=dtype,
            attention=attention,
            inverse_temperature=inverse_temperature,
            beta=beta,
        )
        est._validate_params()
        unit = radius / est.bound  # x = unit * x_tilde
        fit = NetworkFit(
            *exact_readout(coef, monomial_exponents(n_features, degree), unit)
        )
        return store_network(
            est,
            fit,
            spec=est._spec(est.headroom * est.bound, "cpu"),
            scaling=AffineScaling(np.zeros(n_features), np.full(n_features, unit)),
            target_scaling=TargetScaling(np.zeros(1), np.ones(1)),
            n_features=n_features,
        )

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
        MemoryError
            When the monomials will not fit in memory (checked before any is
            listed); :meth:`to_ridge_form` gives the same model compactly.
        ValueError
            When a coefficient in the caller's units overflows float64 (inputs
            of scale ``1e155`` make a degree-2 coefficient about ``1e-310``
            times a term of ``1e310``); ``predict`` is not affected.
        """
        self._check_solved()
        coef, exponents = caller_polynomial(
            self.net_.module_, self.scaling_, self.target_scaling_
        )
        polys = [to_dict(coef[:, o], exponents) for o in range(coef.shape[1])]
        return polys[0] if self.n_outputs_ == 1 else polys

    def to_ridge_form(self):
        """The fitted network as a sum of ridge polynomials, in the caller's units.

        ``f(x) = intercept + sum_i sum_k coefficients[i, k - 1] (w_i . x)^k``,
        with ``w_i = directions[i]``: ``n q`` coefficients where
        :meth:`to_polynomial` lists ``C(d + q, q)`` (635 376 at ``d = 60, q =
        4``), the natural form of learned directions.

        Returns
        -------
        directions : ndarray of shape (n_directions, n_features)
            The rows ``w_i``, in the units of X (not of norm 1).
        coefficients : ndarray of shape (n_directions, degree) or \
                (n_directions, degree, n_outputs)
            ``coefficients[i, k - 1]`` multiplies ``(w_i . x)^k``.
        intercept : float or ndarray of shape (n_outputs,)
            The constant term.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_attnpoly import AttentionPolynomialRegressor
        >>> X = np.random.default_rng(0).normal(size=(100, 2))
        >>> y = (X[:, 0] + X[:, 1]) ** 2 + 1
        >>> est = AttentionPolynomialRegressor(degree=2, n_directions=2,
        ...                                    random_state=0).fit(X, y)
        >>> W, c, b = est.to_ridge_form()
        >>> ridge = b + sum(c[:, k] @ (X @ W.T).T ** (k + 1) for k in range(2))
        >>> bool(np.allclose(ridge, est.predict(X)))
        True
        """
        self._check_solved()
        directions, coefficients, intercept = caller_ridge_form(
            self.net_.module_, self.scaling_, self.target_scaling_
        )
        if self.n_outputs_ == 1:
            return directions, coefficients[..., 0], float(intercept[0])
        return directions, coefficients, intercept


def caller_polynomial(module, scaling, target_scaling):
    """The polynomial a fitted network computes, in the caller's units.

    Parameters
    ----------
    module : AttentionPolynomialNetwork
    scaling, target_scaling : AffineScaling, TargetScaling
        The frames the network works in.

    Returns
    -------
    coef : ndarray of shape (n_monomials, n_outputs)
        Over ``exponents`` (every monomial of degree ``<= q``, graded).
    exponents : ndarray of shape (n_monomials, n_features)

    Raises
    ------
    ValueError
        When a coefficient in the caller's units overflows float64.
    """
    F, beta, b = network_arrays(module)
    check_polynomial_fits(F.shape[1], beta.shape[1], len(b))
    coef = np.concatenate([b[None, :], *parts_from_readout(F, beta)])
    coef = coef * target_scaling.scale
    coef[0] += target_scaling.mean
    exponents = monomial_exponents(F.shape[1], beta.shape[1])
    shift, scale = scaling.shift, scaling.scale
    try:
        with np.errstate(over="raise", divide="raise", invalid="raise"):
            coef = substitute_affine(coef, exponents, shift, scale)
        # each monomial's size at the data's mean, where the terms cancel
        at_mean = np.exp(exponents @ np.log(np.maximum(np.abs(shift), 1e-300)))
        _warn_if_cancelling(np.abs(coef).T @ at_mean, target_scaling, scaling)
        return coef, exponents
    except FloatingPointError:
        raise ValueError(
            "The fitted polynomial's coefficients in the units of X "
            "overflow float64: the powers up to degree "
            f"{beta.shape[1]} of X's mean (up to {np.abs(shift).max():.3g}) "
            f"and scale ({scale.min():.3g} to {scale.max():.3g}) do not "
            "fit. Rescale X to list them; predict is not affected."
        ) from None


def caller_ridge_form(module, scaling, target_scaling):
    """The compact form of a fitted network, in the caller's units.

    ``f(x) = intercept + sum_i sum_k coefficients[i, k - 1] (w_i . x)^k``: the
    network's ``t_i = xi_i . (x - shift) / scale`` is ``w_i . x + o_i`` with
    ``w_i = xi_i / scale``, and each direction's polynomial in ``t_i`` is
    re-expanded about ``o_i`` (the binomial theorem), its constant terms
    gathered in the intercept.

    Returns
    -------
    directions : ndarray of shape (n, d)
    coefficients : ndarray of shape (n, q, n_outputs)
    intercept : ndarray of shape (n_outputs,)

    Raises
    ------
    ValueError
        When a coefficient in the caller's units overflows float64.
    """
    F, beta, b = network_arrays(module)
    n, q, n_outputs = beta.shape
    directions = F / scaling.scale
    offsets = -directions @ scaling.shift
    c = ridge_coefficients(beta)  # of t^k, k = 1..q
    c = np.concatenate([np.zeros((n, 1, n_outputs)), c], axis=1)  # k = 0..q
    expanded = np.zeros_like(c)  # of (w . x)^j, j = 0..q
    try:
        with np.errstate(over="raise", invalid="raise"):
            for k in range(1, q + 1):
                for j in range(k + 1):
                    factor = math.comb(k, j) * offsets ** (k - j)
                    expanded[:, j] += factor[:, None] * c[:, k]
    except FloatingPointError:
        raise ValueError(
            "The fitted directions' polynomials in the units of X overflow "
            "float64: the offsets of the directions about X's mean (up to "
            f"{np.abs(offsets).max():.3g}) to the power {q} do not fit. Rescale "
            "X to list them; predict is not affected."
        ) from None
    scale, mean = target_scaling.scale, target_scaling.mean
    intercept = (b + expanded[:, 0].sum(axis=0)) * scale + mean
    coefficients = expanded[:, 1:] * scale
    # each term's size at the data's mean, where the terms cancel
    powers = np.abs(offsets)[:, None] ** np.arange(1, q + 1)  # |w_i . mean|^j
    terms = np.abs(intercept) + np.einsum("nk,nko->o", powers, np.abs(coefficients))
    _warn_if_cancelling(terms, target_scaling, scaling)
    return directions, coefficients, intercept


def _warn_if_cancelling(terms, target_scaling, scaling):
    """Warn (:class:`PrecisionWarning`) when a form expanded in the units of X
    is a sum of terms so much larger, at the data, than the targets' spread
    that float64 rounding of the sum exceeds 1e-6 of that spread.

    Parameters
    ----------
    terms : ndarray of shape (n_outputs,)
        The sum of the terms' absolute values at the data's mean.
    target_scaling, scaling : TargetScaling, AffineScaling
        The frames the network works in.
    """
    lost = float(np.max(np.finfo(float).eps * terms / target_scaling.scale))
    tolerance = RELATIVE_TOLERANCE[torch.float64]
    if lost > tolerance:
        ratio = np.max(np.abs(scaling.shift) / scaling.scale)
        warnings.warn(
            "In the units of X the fitted model is a sum of terms that cancel "
            f"near the data (|mean| / spread of X up to {ratio:.3g}, the spread "
            "as the network scales X): "
            f"evaluated there, they lose about {lost:.2g} of the targets' "
            f"spread to rounding, above the {tolerance:g} expected of float64. "
            "Centre X (e.g. subtract its mean) before fitting to read the "
            "coefficients; predict is not affected.",
            PrecisionWarning,
            stacklevel=3,
        )
