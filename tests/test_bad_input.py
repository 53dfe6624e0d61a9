"""Hostile input, one matrix: every case gives the right answer or a clear
error or warning, never a silent wrong number.

Each case is a call and its exact outcome: an error (type and message
fragment), a warning (class and fragment), or predictions equal to the
polynomial that generated the data, to a stated relative tolerance.
"""

import re
import warnings

import numpy as np
import pytest
import scipy.sparse
import torch
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning, NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_attnpoly import (
    AttentionPolynomialRegressor,
    ExtrapolationWarning,
    OutOfBoundWarning,
)
from sklearn_attnpoly._solvers import _dispatch, _readout

RNG = np.random.default_rng(0)
X = RNG.normal(size=(40, 3))


def f(X):
    """The data's polynomial: degree 2, all three features."""
    X = np.asarray(X, dtype=float)
    return X[:, 0] ** 2 - 3 * X[:, 0] * X[:, 1] + 0.5 * X[:, 2] + 1.0


Y = f(X)
#: Not a polynomial: a start that does not fit exactly, which a diverging
#: gradient run can lose.
Y_NOISY = Y + 0.1 * RNG.normal(size=len(X))


def fit(X=X, y=Y, sample_weight=None, **params):
    return AttentionPolynomialRegressor(**params).fit(X, y, sample_weight=sample_weight)


def fit_predict(X_fit=X, y=Y, X_new=X, **params):
    return fit(X_fit, y, **params).predict(X_new)


# -- outcomes ----------------------------------------------------------------------


def raises(error, fragment):
    return ("raises", error, fragment)


def warns(category, fragment, *also):
    """A warning of ``category`` whose message holds ``fragment``, and no
    other warning but of the categories ``also``."""
    return ("warns", category, fragment, *also)


def equals(expected, rtol, warning=None):
    """Predictions equal to ``expected`` (an array, or a function of nothing)
    within ``rtol`` of the largest ``|expected|``, with no warning or with
    ``warning``."""
    return ("equals", expected, rtol) + ((warning,) if warning else ())


FITTED = fit()
CUDA = torch.cuda.is_available()

CASES = [
    # -- X at fit
    (
        "X NaN",
        lambda: fit(np.where(X > 1, np.nan, X)),
        raises(ValueError, "Input X contains NaN"),
    ),
    (
        "X inf",
        lambda: fit(np.where(X > 1, np.inf, X)),
        raises(ValueError, "Input X contains infinity"),
    ),
    (
        "X empty",
        lambda: fit(X[:0], Y[:0]),
        raises(ValueError, "Found array with 0 sample(s)"),
    ),
    (
        "X 1-D",
        lambda: fit(X[:, 0]),
        raises(ValueError, "Expected 2D array, got 1D array instead"),
    ),
    (
        "X complex",
        lambda: fit(X + 1j),
        raises(ValueError, "Complex data not supported"),
    ),
    (
        "X strings",
        lambda: fit(np.full((40, 3), "a")),
        raises(ValueError, "could not convert string to float"),
    ),
    (
        "X sparse",
        lambda: fit(scipy.sparse.csr_array(X)),
        raises(TypeError, "Sparse data was passed"),
    ),
    ("X bool", lambda: fit_predict(X > 0, f(X > 0), X > 0), equals(f(X > 0), 1e-8)),
    (
        "X int",
        lambda: fit_predict(
            np.rint(3 * X).astype(int), f(np.rint(3 * X)), np.rint(3 * X).astype(int)
        ),
        equals(f(np.rint(3 * X)), 1e-8),
    ),
    (
        "X float32",
        lambda: fit_predict(
            X.astype(np.float32), f(X.astype(np.float32)), X.astype(np.float32)
        ),
        equals(f(X.astype(np.float32)), 1e-8),
    ),
    ("X times 1e155", lambda: fit_predict(X * 1e155, Y, X * 1e155), equals(Y, 1e-8)),
    ("X times 1e-200", lambda: fit_predict(X * 1e-200, Y, X * 1e-200), equals(Y, 1e-8)),
    (
        "X times 1e155, to_polynomial",
        lambda: fit(X * 1e155).to_polynomial(),
        raises(ValueError, "coefficients in the units of X overflow float64"),
    ),
    (
        "X spans more than float64",
        lambda: fit(
            np.vstack([np.full((5, 3), -1.7e308), np.full((1, 3), 1.7e308)]),
            np.arange(6.0),
        ),
        raises(
            ValueError,
            "X spans more than float64 holds: its distance to the training mean",
        ),
    ),
    ("X one row", lambda: fit_predict(X[:1], Y[:1], X[:1]), equals(Y[:1], 1e-12)),
    # -- X at predict
    (
        "predict: wrong width",
        lambda: FITTED.predict(X[:, :2]),
        raises(
            ValueError,
            "X has 2 features, but AttentionPolynomialRegressor is expecting 3",
        ),
    ),
    (
        "predict: NaN",
        lambda: FITTED.predict(np.where(X > 1, np.nan, X)),
        raises(ValueError, "Input X contains NaN"),
    ),
    (
        "predict: 1-D",
        lambda: FITTED.predict(X[0]),
        raises(ValueError, "Expected 2D array, got 1D array instead"),
    ),
    (
        "predict: unfitted",
        lambda: AttentionPolynomialRegressor().predict(X),
        raises(NotFittedError, "is not fitted yet"),
    ),
    (
        "predict: 10x the training scale",
        lambda: FITTED.predict(10 * X),
        equals(f(10 * X), 1e-8, warning=ExtrapolationWarning),
    ),
    (
        "predict: 1000x the training scale",
        lambda: FITTED.predict(1000 * X),
        equals(f(1000 * X), 1e-8, warning=ExtrapolationWarning),
    ),
    (
        "predict: the polynomial overflows",
        lambda: FITTED.predict(1e160 * X),
        raises(ValueError, "The fitted polynomial exceeds the largest float64"),
    ),
    (
        "predict: out_of_bound='raise'",
        lambda: fit(out_of_bound="raise").predict(10 * X),
        raises(
            ValueError,
            "Set out_of_bound='extend' to predict the fitted polynomial there",
        ),
    ),
    (
        "predict: out_of_bound='warn'",
        lambda: fit(out_of_bound="warn").predict(10 * X),
        # the rows are far out: the predictions extrapolate too
        warns(
            OutOfBoundWarning, "may not be the fitted polynomial", ExtrapolationWarning
        ),
    ),
    (
        "predict: out_of_bound='clip'",
        lambda: fit(out_of_bound="clip").predict(10 * X),
        warns(OutOfBoundWarning, "They were projected onto it", ExtrapolationWarning),
    ),
    # -- y
    (
        "y NaN",
        lambda: fit(y=np.where(Y > 1, np.nan, Y)),
        raises(ValueError, "Input y contains NaN"),
    ),
    (
        "y inf",
        lambda: fit(y=np.where(Y > 1, np.inf, Y)),
        raises(ValueError, "Input y contains infinity"),
    ),
    (
        "y complex",
        lambda: fit(y=Y + 1j),
        raises(ValueError, "Complex data not supported"),
    ),
    (
        "y strings",
        lambda: fit(y=np.full(40, "a")),
        raises(ValueError, "could not convert string to float"),
    ),
    ("y numeric strings", lambda: fit_predict(y=Y.astype(str)), equals(Y, 1e-8)),
    (
        "y wrong length",
        lambda: fit(y=Y[:-1]),
        raises(ValueError, "inconsistent numbers of samples"),
    ),
    (
        "y constant",
        lambda: fit_predict(y=np.full(40, 3.5)),
        equals(np.full(40, 3.5), 1e-14),
    ),
    (
        "y 2-D",
        lambda: fit_predict(y=np.column_stack([Y, -2 * Y])),
        equals(np.column_stack([Y, -2 * Y]), 1e-8),
    ),
    (
        "y column vector",
        lambda: fit(y=Y[:, None]),
        warns(DataConversionWarning, "A column-vector y was passed"),
    ),
    ("y times 1e154", lambda: fit_predict(y=Y * 1e154), equals(Y * 1e154, 1e-8)),
    ("y times 1e300", lambda: fit_predict(y=Y * 1e300), equals(Y * 1e300, 1e-8)),
    ("y times 1e-300", lambda: fit_predict(y=Y * 1e-300), equals(Y * 1e-300, 1e-8)),
    # -- sample weights
    (
        "weights negative",
        lambda: fit(sample_weight=-np.ones(40)),
        raises(ValueError, "Negative values in data passed to `sample_weight`"),
    ),
    (
        "weights all zero",
        lambda: fit(sample_weight=np.zeros(40)),
        raises(ValueError, "Sample weights must contain at least one non-zero number"),
    ),
    (
        "weights wrong shape",
        lambda: fit(sample_weight=np.ones(3)),
        raises(ValueError, "sample_weight.shape == (3,), expected (40,)"),
    ),
    (
        "weights NaN",
        lambda: fit(sample_weight=np.full(40, np.nan)),
        raises(ValueError, "Input sample_weight contains NaN"),
    ),
    # -- parameters
    *(
        (
            f"parameter {name}={value!r}",
            (lambda p={name: value}: fit(**p)),
            raises(
                InvalidParameterError,
                f"The '{name}' parameter of AttentionPolynomialRegressor must be",
            ),
        )
        for name, value in [
            ("degree", 0),
            ("degree", 2.5),
            ("n_directions", 0),
            ("solver", "newton"),
            ("alpha", -1.0),
            ("max_epochs", 0),
            ("lr", 0.0),
            ("batch_size", 0),
            ("engine", "sparse"),
            ("bound", 0.0),
            ("headroom", 0.5),
            ("out_of_bound", "ignore"),
            ("readout_init", "ones"),
            ("dtype", "float16"),
            ("device", 0),
            ("callbacks", "epoch"),
            ("verbose", -1),
            ("random_state", "seed"),
        ]
    ),
    (
        "from_polynomial radius 0",
        lambda: AttentionPolynomialRegressor.from_polynomial({(1,): 1.0}, radius=0.0),
        raises(ValueError, "radius must be a finite number > 0"),
    ),
    # -- devices
    (
        "device 'tpu'",
        lambda: fit(device="tpu"),
        raises(ValueError, "device='tpu' is not a device name"),
    ),
    (
        "device 'meta'",
        lambda: fit(device="meta"),
        raises(ValueError, "device='meta' is not supported"),
    ),
    (
        "device 'cuda:7'",
        lambda: fit(device="cuda:7"),
        raises(
            ValueError,
            "device='cuda:7' does not exist"
            if CUDA
            else "device='cuda:7' was requested but CUDA is not available",
        ),
    ),
    # -- sizes that cannot fit: refused before anything is enumerated
    (
        "degree 50, 10 features",
        lambda: fit(RNG.normal(size=(5, 10)), np.ones(5), degree=50),
        raises(MemoryError, "degree=50 with 10 features needs 12565671261 directions"),
    ),
    (
        "n_directions 1e10",
        lambda: fit(n_directions=10**10),
        raises(MemoryError, "degree=2 with 3 features needs 10000000000 directions"),
    ),
    (
        "dense engine, 1e5 directions",
        lambda: fit(engine="dense", n_directions=10**5),
        raises(MemoryError, "The dense engine needs about"),
    ),
    # -- precision of the guard radius
    (
        "headroom 1000 in float32",
        lambda: fit(degree=2, dtype="float32", headroom=1000),
        raises(
            ValueError, "headroom=1000 builds the blocks for a guard radius of 1000"
        ),
    ),
    (
        "headroom 1e8 in float64",
        lambda: fit(headroom=1e8),
        raises(
            ValueError, "headroom=1e+08 builds the blocks for a guard radius of 1e+08"
        ),
    ),
    # -- gradient runs
    (
        "sgd lr=1e3 diverges",
        lambda: fit(y=Y_NOISY, solver="sgd", lr=1e3, max_epochs=5, random_state=0),
        warns(
            ConvergenceWarning,
            "the run diverged. The parameters of epoch 0 were kept. Lower lr "
            "(now 1000)",
        ),
    ),
    (
        "sgd lr=1e38 float32",
        lambda: fit(
            solver="sgd",
            lr=1e38,
            dtype="float32",
            readout_init="zeros",
            max_epochs=5,
            random_state=0,
        ),
        raises(FloatingPointError, "The model was not fitted. Lower lr"),
    ),
]


def test_the_matrix_is_large():
    assert len(CASES) >= 40


@pytest.mark.parametrize(
    "call, outcome", [pytest.param(c, o, id=name) for name, c, o in CASES]
)
def test_bad_input(call, outcome):
    kind, what, detail, *warning = outcome
    if kind == "raises":
        with pytest.raises(what, match=re.escape(detail)):
            call()
    elif kind == "warns":
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            call()
        assert any(
            issubclass(w.category, what) and detail in str(w.message) for w in caught
        ), [str(w.message) for w in caught]
        others = [w.category for w in caught if not issubclass(w.category, what)]
        assert set(others) <= set(warning), others
    elif warning:  # the right numbers, with the warning that they extrapolate
        with pytest.warns(warning[0]):
            got = call()
        assert got.shape == what.shape
        assert np.abs(got - what).max() <= detail * np.abs(what).max()
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = call()
        assert got.shape == what.shape
        assert np.abs(got - what).max() <= detail * np.abs(what).max()


@pytest.mark.parametrize(
    "params",
    [
        {"degree": 50},
        {"n_directions": 10**10},
        {"engine": "dense", "n_directions": 10**5},
    ],
)
def test_sizes_are_refused_before_any_enumeration(params, monkeypatch):
    def enumerate_(*args):
        raise AssertionError("directions were enumerated")

    monkeypatch.setattr(_dispatch, "lattice_directions", enumerate_)
    monkeypatch.setattr(_readout, "power_basis", enumerate_)
    with pytest.raises(MemoryError, match="needs"):
        fit(RNG.normal(size=(5, 10)), np.ones(5), **params)
