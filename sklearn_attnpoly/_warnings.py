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
