"""The warnings the estimators raise, in one place, so that a user can filter
them (as :mod:`sklearn.exceptions` holds ``ConvergenceWarning``)."""


class OutOfBoundWarning(UserWarning):
    """Warn that rows lie outside the blocks' guard radius.

    Their predictions may not be the fitted polynomial to the precision
    expected of the network's dtype; see ``out_of_bound``.
    """


class BoltzmannErrorWarning(UserWarning):
    """Warn that softmax attention may move predictions beyond the tolerance.

    Raised by ``predict`` with ``attention="boltzmann"`` when the certified
    bound on the Boltzmann network's distance from the exact (hardmax) one
    exceeds the tolerance of the dtype, relative to the predictions; a
    larger ``beta`` tightens it.
    """


class ExtrapolationWarning(UserWarning):
    """Warn that predictions lie far outside the training targets' range.

    Raised by ``predict`` for rows predicted beyond the smallest and largest
    training target widened by their distance on each side. A polynomial
    fitted to data can take any value off it, even on a row whose every
    feature lies in its training range: such rows are extrapolation, or data
    errors. Silence it with ``warnings.simplefilter("ignore",
    ExtrapolationWarning)``.
    """


class PrecisionWarning(UserWarning):
    """Warn that coefficients in the units of X cancel near the data.

    Raised by ``to_polynomial`` and ``to_ridge_form`` when, with X's mean far
    from the origin against its spread, the expanded form is a sum of terms
    so large that evaluating it at the data loses more than 1e-6 of the
    targets' spread to float64 rounding. Centre X before fitting to read
    coefficients that keep their digits; ``predict`` is not affected.
    """
