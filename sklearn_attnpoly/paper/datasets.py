"""The synthetic regression tasks of Fang et al. (2022), section 5.

Both are ``y = f*(x) + eps`` with standard normal noise ``eps``:

- ``f1*(x) = x1^2 + x2^2`` (d = 2, q = 2), ``x ~ N(0, diag(100, 100))``,
  10000 samples;
- ``f2*(x) = x1^5 + 3 x2^4 + 2 x3^3 + 5 x3 x4 + 3 x5^2 + 2 x6 x7 x8 + 2 x9``
  (d = 10, q = 5), ``x ~ N(0, I_10)``, 50000 samples.

``PAPER_F1`` and ``PAPER_F2`` hold the two targets as ``{exponents:
coefficient}`` dictionaries, the format of
:meth:`~sklearn_attnpoly.AttentionPolynomialRegressor.from_polynomial`, and
``PAPER_SAMPLES`` the rows the paper draws for each task.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_array, check_random_state

from .._polynomial import evaluate, validate_coefficients

__all__ = [
    "PAPER_F1",
    "PAPER_F2",
    "make_paper_f1",
    "make_paper_f2",
    "paper_f1",
    "paper_f2",
]

#: ``f1*`` as ``{exponents: coefficient}``, the format of
#: :meth:`~sklearn_attnpoly.AttentionPolynomialRegressor.from_polynomial`.
PAPER_F1 = {(2, 0): 1.0, (0, 2): 1.0}

#: ``f2*`` as ``{exponents: coefficient}``.
PAPER_F2 = {
    (5, 0, 0, 0, 0, 0, 0, 0, 0, 0): 1.0,
    (0, 4, 0, 0, 0, 0, 0, 0, 0, 0): 3.0,
    (0, 0, 3, 0, 0, 0, 0, 0, 0, 0): 2.0,
    (0, 0, 1, 1, 0, 0, 0, 0, 0, 0): 5.0,
    (0, 0, 0, 0, 2, 0, 0, 0, 0, 0): 3.0,
    (0, 0, 0, 0, 0, 1, 1, 1, 0, 0): 2.0,
    (0, 0, 0, 0, 0, 0, 0, 0, 1, 0): 2.0,
}

#: Rows the paper draws for each task (it trains on 90 % and tests on 10 %).
PAPER_SAMPLES = {"f1": 10000, "f2": 50000}

#: The standard deviation of every input: ``x ~ N(0, scale^2 I)``.
_INPUT_SCALES = {"f1": 10.0, "f2": 1.0}


def _evaluate(polynomial, X, name):
    n_features = validate_coefficients(polynomial)[0]
    X = check_array(X, dtype=np.float64)
    if X.shape[1] != n_features:
        raise ValueError(
            f"X must have {n_features} columns, the variables of the paper's "
            f"{name}; got {X.shape[1]}."
        )
    return evaluate(polynomial, X)


def paper_f1(X):
    """Evaluate the noiseless target ``f1*(x) = x1^2 + x2^2`` of section 5.

    Parameters
    ----------
    X : array-like of shape (n_samples, 2)
        Points ``(x1, x2)``.

    Returns
    -------
    y : ndarray of shape (n_samples,)
        ``f1*`` at each point.

    Examples
    --------
    >>> from sklearn_attnpoly.paper.datasets import paper_f1
    >>> paper_f1([[3.0, 4.0], [1.0, -1.0]])
    array([25.,  2.])
    """
    return _evaluate(PAPER_F1, X, "f1")


def paper_f2(X):
    """Evaluate the noiseless target ``f2*`` of the paper's section 5.

    ``f2*(x) = x1^5 + 3 x2^4 + 2 x3^3 + 5 x3 x4 + 3 x5^2 + 2 x6 x7 x8 + 2 x9``;
    ``x10`` does not enter.

    Parameters
    ----------
    X : array-like of shape (n_samples, 10)
        Points ``(x1, ..., x10)``.

    Returns
    -------
    y : ndarray of shape (n_samples,)
        ``f2*`` at each point.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_attnpoly.paper.datasets import paper_f2
    >>> paper_f2(np.ones((1, 10)))
    array([18.])
    >>> paper_f2([[2.0, 0, 0, 0, 0, 0, 0, 0, 0, 0]])
    array([32.])
    """
    return _evaluate(PAPER_F2, X, "f2")


def _make(task, n_samples, noise, random_state):
    if not isinstance(n_samples, Integral) or isinstance(n_samples, bool):
        raise TypeError(
            f"n_samples must be an integer; got {type(n_samples).__name__}."
        )
    if n_samples < 1:
        raise ValueError(f"n_samples must be at least 1; got {n_samples}.")
    if (
        not isinstance(noise, Real)
        or isinstance(noise, bool)
        or not np.isfinite(noise)
        or noise < 0
    ):
        raise ValueError(f"noise must be a finite number >= 0; got {noise!r}.")
    polynomial = {"f1": PAPER_F1, "f2": PAPER_F2}[task]
    n_features = validate_coefficients(polynomial)[0]
    rng = check_random_state(random_state)
    X = _INPUT_SCALES[task] * rng.standard_normal((n_samples, n_features))
    y = evaluate(polynomial, X) + noise * rng.standard_normal(n_samples)
    return X, y


def make_paper_f1(n_samples=PAPER_SAMPLES["f1"], noise=1.0, random_state=None):
    """Draw samples of the paper's first task: ``y = x1^2 + x2^2 + eps``.

    ``x`` is drawn from ``N(0, diag(100, 100))`` and ``eps`` from
    ``N(0, noise^2)``, as in section 5 (which uses ``noise=1``).

    Parameters
    ----------
    n_samples : int, default=10000
        Rows to draw; the paper trains on 9000 and tests on 1000.
    noise : float, default=1.0
        Standard deviation of the Gaussian noise added to the target.
    random_state : int, RandomState instance or None, default=None
        Seeds the inputs and the noise.

    Returns
    -------
    X : ndarray of shape (n_samples, 2)
        The inputs.
    y : ndarray of shape (n_samples,)
        Their noisy targets.

    See Also
    --------
    paper_f1 : The noiseless target.
    make_paper_f2 : The paper's second task.

    References
    ----------
    Z. Fang, D.-X. Zhou, Y. Ouyang and G. Cheng, "Attention Enables Zero
    Approximation Error", 2022, section 5.

    Examples
    --------
    >>> from sklearn_attnpoly.paper.datasets import make_paper_f1, paper_f1
    >>> X, y = make_paper_f1(n_samples=5, noise=0.0, random_state=0)
    >>> X.shape, y.shape
    ((5, 2), (5,))
    >>> bool((y == paper_f1(X)).all())
    True
    """
    return _make("f1", n_samples, noise, random_state)


def make_paper_f2(n_samples=PAPER_SAMPLES["f2"], noise=1.0, random_state=None):
    """Draw samples of the paper's second task: ``y = f2*(x) + eps``.

    ``x`` is drawn from ``N(0, I_10)`` and ``eps`` from ``N(0, noise^2)``, as
    in section 5 (which uses ``noise=1``); see :func:`paper_f2` for ``f2*``.

    Parameters
    ----------
    n_samples : int, default=50000
        Rows to draw; the paper trains on 45000 and tests on 5000.
    noise : float, default=1.0
        Standard deviation of the Gaussian noise added to the target.
    random_state : int, RandomState instance or None, default=None
        Seeds the inputs and the noise.

    Returns
    -------
    X : ndarray of shape (n_samples, 10)
        The inputs.
    y : ndarray of shape (n_samples,)
        Their noisy targets.

    See Also
    --------
    paper_f2 : The noiseless target.
    make_paper_f1 : The paper's first task.

    References
    ----------
    Z. Fang, D.-X. Zhou, Y. Ouyang and G. Cheng, "Attention Enables Zero
    Approximation Error", 2022, section 5.

    Examples
    --------
    >>> from sklearn_attnpoly.paper.datasets import make_paper_f2, paper_f2
    >>> X, y = make_paper_f2(n_samples=1000, random_state=0)
    >>> X.shape, y.shape
    ((1000, 10), (1000,))
    >>> round(float((y - paper_f2(X)).std()), 1)
    1.0
    """
    return _make("f2", n_samples, noise, random_state)
