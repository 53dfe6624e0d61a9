"""scikit-learn's estimator checks over every public estimator.

scikit-learn's array-API check needs SciPy's array-API mode, which SciPy reads
once, from the environment, when it is first imported. The rest of the suite
runs in the mode users have, so those checks run apart, all in one fresh
interpreter with ``SCIPY_ARRAY_API=1`` (:func:`_array_api_results`), and each
parametrized test reports its own check's outcome from there.
"""

import os
import pickle
import re
import subprocess
import sys
import warnings

import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import (
    estimator_checks_generator,
    parametrize_with_checks,
)

from sklearn_attnpoly import (
    AttentionPolynomialRegressor,
    AttentionPolynomialRegressorCV,
    OneLayerTransformerRegressor,
)
from sklearn_attnpoly.paper import PaperMLPRegressor

ESTIMATORS = [
    # every solver on both engines; the gradient solvers with a short budget
    # (10 epochs: the one-cycle schedule still anneals back to the start),
    # as the checks fit small data many times, and the dense engine with fewer
    # directions than the 465 lattice directions of the checks' 30 features:
    # its blocks are O(n^2) per row
    AttentionPolynomialRegressor(),
    *(
        AttentionPolynomialRegressor(solver=solver, max_epochs=10)
        for solver in ("sgd", "adam")
    ),
    AttentionPolynomialRegressor(engine="dense", n_directions=12),
    # softmax attention: the Boltzmann blocks, closed form and gradient
    AttentionPolynomialRegressor(attention="boltzmann"),
    AttentionPolynomialRegressor(attention="boltzmann", solver="adam", max_epochs=5),
    # learned directions, few, with short L-BFGS runs: longer ones reach
    # different local optima from duplicated rows and from weights of 2, whose
    # losses agree only to rounding; the cap's warning is asserted
    VARPRO := AttentionPolynomialRegressor(solver="varpro", n_directions=2, max_iter=5),
    # and with its size and ridge chosen on the data (the default)
    VARPRO_AUTO := AttentionPolynomialRegressor(solver="varpro", max_iter=5),
    *(
        AttentionPolynomialRegressor(
            solver=solver, engine="dense", n_directions=12, max_epochs=10
        )
        for solver in ("sgd", "adam")
    ),
    # degree and alpha chosen by three folds' moments, from a small grid
    AttentionPolynomialRegressorCV(degrees=(1, 2), alphas=(1e-3, 1.0), cv=3),
    # a small head and a short budget that still fits the checks' regression
    # data (R^2 > 0.5)
    OneLayerTransformerRegressor(d_model=4, hidden_size=8, max_epochs=50, lr=0.05),
    # a short budget, and a learning rate at which it fits the checks'
    # regression data (R^2 > 0.5)
    PaperMLPRegressor((8,), max_epochs=20, batch_size=50, lr=0.05, random_state=0),
]


def _check_name(check):
    return getattr(check, "func", check).__name__


def _is_array_api_check(check):
    return _check_name(check).startswith("check_array_api")


def _key(estimator, check):
    return repr(estimator), repr(getattr(check, "keywords", {}))


_RUN_CHECKS = """
import pickle, sys, traceback
from sklearn.utils._testing import SkipTest
results = {}
for key, estimator, check in pickle.load(sys.stdin.buffer):
    try:
        check(estimator)
        results[key] = None
    except SkipTest as exc:
        results[key] = "skip: " + str(exc)
    except Exception:
        results[key] = traceback.format_exc()
sys.stdout.buffer.write(pickle.dumps(results))
"""


@pytest.fixture(scope="session")
def _array_api_results():
    """``{key: None or the failure}`` of every array-API check of
    :data:`ESTIMATORS`, run together in one interpreter with SciPy's array-API
    mode on."""
    jobs = [
        (_key(estimator, check), estimator, check)
        for original in ESTIMATORS
        for estimator, check in estimator_checks_generator(original)
        if _is_array_api_check(check)
    ]
    done = subprocess.run(
        [sys.executable, "-c", _RUN_CHECKS],
        input=pickle.dumps(jobs),
        capture_output=True,
        env={**os.environ, "SCIPY_ARRAY_API": "1"},
        check=True,
    )
    return pickle.loads(done.stdout)


#: The ConvergenceWarning a configuration's short budget may raise in the
#: checks; any other is a failure.
BUDGET_WARNING = re.compile(
    r"solver='varpro' stopped after max_iter=5 iterations of its last refit "
    r"before the loss settled \(tol=1e-05\); increase max_iter\."
)


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check, request):
    if not _is_array_api_check(check):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            check(estimator)
        for w in caught:
            if not issubclass(w.category, ConvergenceWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
                continue
            assert estimator in (VARPRO, VARPRO_AUTO), str(w.message)
            assert BUDGET_WARNING.fullmatch(str(w.message)), str(w.message)
        return
    outcome = request.getfixturevalue("_array_api_results")[_key(estimator, check)]
    assert outcome is None, outcome
