"""A fit that fails changes nothing.

scikit-learn leaves an estimator whose ``fit`` raised in an undefined state.
Here a failed fit leaves it as it was before the call: unfitted if it was
(``check_is_fitted`` raises), with its previous fit otherwise, never a mix of
the two, such as new scalings around an old network, or a network whose
training stopped at a non-finite loss.
"""

import functools


def unchanged_on_error(fit):
    """Decorate a fit method so that an exception, after it is raised inside
    the method, leaves the estimator's attributes as they were at the call.

    Every attribute is restored, so the fitted ones (ending in ``_``, such as
    ``n_features_in_``, which validation sets first) are removed or put back.
    """

    @functools.wraps(fit)
    def wrapper(estimator, *args, **kwargs):
        before = dict(vars(estimator))
        try:
            return fit(estimator, *args, **kwargs)
        except BaseException:
            vars(estimator).clear()
            vars(estimator).update(before)
            raise

    return wrapper
