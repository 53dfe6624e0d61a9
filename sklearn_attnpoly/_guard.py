"""The out-of-bound policy and the precision checks that keep the blocks exact.

Lemma 3.1 holds only while every ``|x_i|`` and ``|y_i|`` a block meets stays
under the ``M`` it was built with. The blocks are built for the *guard radius*
``headroom * bound`` (scaled units). Rows beyond it are met by the
``out_of_bound`` policy (:func:`apply_out_of_bound_policy`): computed exactly
on the row scaled into the ball by a power of two (``"extend"``), or a
warning, an error, or a projection onto the ball.

A block rounds its slot at about ``u M_k^2`` (``u`` the unit roundoff), so a
guard radius far beyond the data costs precision on the data itself;
:func:`check_guard_precision` refuses one that costs more than
:data:`RELATIVE_TOLERANCE`, and :func:`check_extension_precision` warns when
rows beyond the guard radius are predicted less precisely than that.
"""

import math
import warnings

import numpy as np
import torch

from ._scaling import row_norms
from ._warnings import BoltzmannErrorWarning, ExtrapolationWarning, OutOfBoundWarning
from .attention import block_bounds, slot_rounding_errors

#: Rounding error allowed on a prediction, relative to the largest
#: ``|prediction|``, per dtype of the network: what float32 and float64 give
#: a polynomial of moderate degree, with room for the blocks' ``u M_k^2``.
RELATIVE_TOLERANCE = {torch.float64: 1e-6, torch.float32: 1e-3}


def _dtype_name(dtype):
    return str(dtype).removeprefix("torch.")


def apply_out_of_bound_policy(X_scaled, radius, policy):
    """Apply the ``out_of_bound`` policy to scaled rows beyond ``radius``.

    Parameters
    ----------
    X_scaled : ndarray of shape (n_samples, n_features)
    radius : float
        The guard radius, in scaled units.
    policy : {"extend", "warn", "raise", "clip"}

    Returns
    -------
    X_scaled : ndarray
        ``X_scaled`` itself, or for ``"clip"`` a copy whose rows beyond
        ``radius`` are projected onto the sphere of that radius.
    scale_exponents : ndarray of shape (n_samples,), dtype int
        For ``"extend"``, the smallest ``j >= 0`` with ``||x|| <= 2^j radius``
        per row, for :meth:`AttentionPolynomialNetwork.forward`; zeros
        otherwise.
    """
    norms = row_norms(X_scaled)
    outside = norms > radius
    exponents = np.zeros(len(X_scaled), dtype=np.int64)
    n_outside = int(outside.sum())
    if n_outside == 0:
        return X_scaled, exponents
    if policy == "extend":
        # ratio = m 2^e with m in [0.5, 1): 2^e covers it, 2^(e-1) if m = 0.5;
        # a ratio beyond float64 gets a power of two beyond it too
        ratio = norms[outside] / radius
        mantissa, exponent = np.frexp(ratio)
        exponent = np.where(np.isfinite(ratio), exponent - (mantissa == 0.5), 2048)
        exponents[outside] = exponent
        return X_scaled, exponents
    message = (
        f"{n_outside} of {len(X_scaled)} rows lie outside the guard radius the "
        f"frozen blocks were built for (the farthest at {norms.max() / radius:.3g} "
        "times that radius, in scaled units)."
    )
    if policy == "raise":
        raise ValueError(
            message + " Set out_of_bound='extend' to predict the fitted "
            "polynomial there, or refit on data that covers them."
        )
    if policy == "clip":
        X_scaled = X_scaled.copy()
        X_scaled[outside] *= (radius / norms[outside])[:, None]
        warnings.warn(
            message + " They were projected onto it; out_of_bound='extend' "
            "predicts the fitted polynomial there.",
            OutOfBoundWarning,
            stacklevel=3,
        )
        return X_scaled, exponents
    warnings.warn(
        message + " Their predictions are the network's own output, which "
        "there may not be the fitted polynomial; "
        "out_of_bound='extend' predicts it.",
        OutOfBoundWarning,
        stacklevel=3,
    )
    return X_scaled, exponents


def check_boltzmann_error(bound, Y, inverse_temperature, dtype):
    """Warn (:class:`BoltzmannErrorWarning`) when ``bound`` (per output,
    caller's units) exceeds :data:`RELATIVE_TOLERANCE` of the largest
    ``|prediction|`` of ``Y``."""
    tolerance = RELATIVE_TOLERANCE[dtype]
    relative = np.max(bound / np.maximum(np.abs(Y).max(axis=0), np.finfo(float).tiny))
    if relative > tolerance:
        warnings.warn(
            "With attention='boltzmann' these predictions may differ from the "
            f"fitted polynomial by up to {relative:.2g} of the largest "
            f"|prediction| (the certified bound), above the {tolerance:g} "
            f"expected of {_dtype_name(dtype)}; a larger inverse_temperature (now "
            f"{inverse_temperature:g}) "
            "tightens it.",
            BoltzmannErrorWarning,
            stacklevel=4,  # the caller of predict
        )


def check_extension_precision(error, Y, n_rows, dtype):
    """Warn when the rows predicted beyond the guard radius carry an
    estimated rounding error ``error`` (per output, caller's units) above
    :data:`RELATIVE_TOLERANCE` of the largest ``|prediction|``; raise when
    their predictions overflowed.

    Parameters
    ----------
    error : ndarray of shape (n_outputs,)
    Y : ndarray of shape (n_samples, n_outputs)
        All the predictions of the call, in the caller's units.
    n_rows : int
        The rows beyond the guard radius.
    dtype : torch.dtype
        The network's.
    """
    if not np.isfinite(Y).all():
        raise ValueError(
            f"The fitted polynomial exceeds the largest {_dtype_name(dtype)} "
            "at some of the rows beyond the guard radius: its value there "
            "cannot be represented."
        )
    tolerance = RELATIVE_TOLERANCE[dtype]
    relative = np.max(error / np.maximum(np.abs(Y).max(axis=0), np.finfo(float).tiny))
    if relative > tolerance:
        warnings.warn(
            f"{n_rows} of {len(Y)} rows lie outside the guard radius; their "
            "predictions are the fitted polynomial with an estimated rounding "
            f"error of {relative:.2g} relative to the largest |prediction|, "
            f"above the {tolerance:g} expected of {_dtype_name(dtype)}.",
            OutOfBoundWarning,
            stacklevel=5,  # the caller of predict
        )


def guard_rounding(bound, headroom, degree, dtype):
    """The largest rounding error of the slots of the training rows
    (``|t| <= bound``) relative to the slots' size ``bound^k``, for blocks
    built for the guard radius ``headroom * bound``."""
    two_M2 = [2 * M**2 for M in block_bounds(headroom * bound, degree)]
    errors = slot_rounding_errors(two_M2, bound, dtype)
    sizes = bound ** np.arange(1, degree + 1, dtype=float)
    with np.errstate(divide="ignore"):
        return float(np.max(errors / sizes))


def check_guard_precision(bound, headroom, degree, dtype):
    """Raise a ValueError when the blocks built for the guard radius
    ``headroom * bound`` round the slots of the training rows by more than
    :data:`RELATIVE_TOLERANCE` of their size (:func:`guard_rounding`)."""
    tolerance = RELATIVE_TOLERANCE[dtype]
    rounding = guard_rounding(bound, headroom, degree, dtype)
    if rounding <= tolerance:
        return
    if guard_rounding(bound, 1.0, degree, dtype) > tolerance:
        advice = (
            "no headroom stays within it at this radius and degree (with "
            "scaling='none', the data's own; scaling='ball' maps it to bound)"
        )
    else:  # the largest headroom within the tolerance, by bisection
        low, high = 1.0, headroom
        for _ in range(60):
            middle = math.sqrt(low * high)
            fits = guard_rounding(bound, middle, degree, dtype) <= tolerance
            low, high = (middle, high) if fits else (low, middle)
        shown = 10 ** (math.floor(math.log10(low)) - 2)  # 3 digits, rounded down
        advice = f"headroom <= {math.floor(low / shown) * shown:.3g} stays within it"
    raise ValueError(
        f"headroom={headroom:g} builds the blocks for a guard radius of "
        f"{headroom * bound:g} (the network's units), which rounds the training rows' "
        f"powers with a relative error up to {rounding:.2g} in "
        f"{_dtype_name(dtype)}, above the {tolerance:g} allowed; {advice}. "
        "Rows beyond the guard radius need no headroom: "
        "out_of_bound='extend' predicts the fitted polynomial there."
    )


def check_prediction_precision(module, exponents, Y, target_scale):
    """The checks ``predict`` makes of its predictions ``Y`` (caller's units).

    Rows computed beyond the guard radius (``exponents > 0``) are checked by
    their estimated rounding (:func:`check_extension_precision`); a softmax
    network by its certified distance from the hardmax one
    (:func:`check_boltzmann_error`).

    Parameters
    ----------
    module : AttentionPolynomialNetwork
    exponents : ndarray of shape (n_samples,)
        The powers of two the rows were scaled by.
    Y : ndarray of shape (n_samples, n_outputs)
    target_scale : ndarray of shape (n_outputs,)
        The target scaling's, from the network's units to the caller's.
    """
    if exponents.any():
        error = module.rounding_error(int(exponents.max())).numpy()
        check_extension_precision(
            error * target_scale, Y, int(np.count_nonzero(exponents)), module.F.dtype
        )
    if module.attention == "boltzmann":
        bound = module.error_bound(int(exponents.max(initial=0)))
        check_boltzmann_error(
            bound * target_scale, Y, module.inverse_temperature, module.F.dtype
        )


def check_extrapolation(Y, target_range):
    """Warn (:class:`ExtrapolationWarning`) for predictions beyond the
    training targets' range widened by its width on each side.

    Parameters
    ----------
    Y : ndarray of shape (n_samples, n_outputs)
        Predictions, in the caller's units.
    target_range : ndarray of shape (2, n_outputs)
        The smallest and largest training target per output.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     check_extrapolation(np.array([[5.0], [40.0]]), np.array([[0.0], [10.0]]))
    >>> print(caught[0].message)
    1 of 2 rows are predicted outside the training targets' range widened by
    its width on each side, [-10, 20] (the largest |prediction| is 40): the
    fitted polynomial extrapolates there. Check those rows for entry errors,
    or silence this with warnings.simplefilter('ignore', ExtrapolationWarning).
    """
    low, high = target_range
    width = high - low
    low, high = low - width, high + width
    outside = ((Y < low) | (Y > high)).any(axis=1)
    n_outside = int(outside.sum())
    if not n_outside:
        return
    shown = ", ".join(f"[{lo:.4g}, {hi:.4g}]" for lo, hi in zip(low, high, strict=True))
    warnings.warn(
        f"{n_outside} of {len(Y)} rows are predicted outside the training "
        f"targets' range widened by its width on each side, {shown} (the largest "
        f"|prediction| is {np.abs(Y[outside]).max():.4g}): the fitted polynomial "
        "extrapolates there. Check those rows for entry errors, or silence this "
        "with warnings.simplefilter('ignore', ExtrapolationWarning).",
        ExtrapolationWarning,
        stacklevel=3,
    )
