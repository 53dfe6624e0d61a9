"""AttentionPolynomialRegressor (``_regressor.py``) as a user meets it: fit and
predict, the bad-input matrix (a headroom the dtype cannot hold among it),
partial_fit and Dask, predictions beyond the guard radius, and softmax
attention."""

import io
import math
import pickle
import re
import warnings

import joblib
import numpy as np
import pytest
import scipy.sparse
import scipy.special
import torch
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning, NotFittedError
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import Callback
from skorch.exceptions import DeviceWarning

from sklearn_attnpoly import (
    AttentionPolynomialRegressor,
    BoltzmannErrorWarning,
    ExtrapolationWarning,
    OutOfBoundWarning,
)
from sklearn_attnpoly._guard import RELATIVE_TOLERANCE, guard_rounding
from sklearn_attnpoly._polynomial import monomial_exponents
from sklearn_attnpoly._solvers import _dispatch, _readout

FAR_OUT_ON_PURPOSE = pytest.mark.filterwarnings(
    "ignore::sklearn_attnpoly.ExtrapolationWarning"
)


def cubic_data(n=400, d=3, noise=0.1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = X[:, 0] ** 3 - 2 * X[:, 1] * X[:, 2] + 0.5 * X[:, 1] + 1.0
    return X, y + noise * rng.normal(size=n)


def relative(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


# -- the lstsq solver --------------------------------------------------------------


@pytest.mark.parametrize("degree", [1, 2, 3])
@pytest.mark.parametrize("engine", ["structured", "dense"])
def test_lstsq_equals_polynomial_features_linear_regression(degree, engine):
    X, y = cubic_data()
    X_test = cubic_data(n=100, seed=1)[0]
    ours = AttentionPolynomialRegressor(degree=degree, engine=engine).fit(X, y)
    ref = make_pipeline(PolynomialFeatures(degree), LinearRegression()).fit(X, y)
    assert relative(ours.predict(X_test), ref.predict(X_test)) <= 1e-6
    assert ours.n_directions_ == {1: 3, 2: 6, 3: 10}[degree]
    assert ours.n_iter_ == 1  # one closed-form solve


def test_lstsq_with_sample_weight_equals_weighted_linear_regression():
    X, y = cubic_data()
    w = np.random.default_rng(3).uniform(0.1, 3.0, size=len(y))
    ours = AttentionPolynomialRegressor(degree=3).fit(X, y, sample_weight=w)
    ref = make_pipeline(PolynomialFeatures(3), LinearRegression())
    ref.fit(X, y, linearregression__sample_weight=w)
    assert relative(ours.predict(X), ref.predict(X)) <= 1e-6


def test_integer_sample_weight_equals_repeated_rows():
    X, y = cubic_data(n=60)
    w = np.random.default_rng(4).integers(0, 4, size=len(y))
    weighted = AttentionPolynomialRegressor(degree=3).fit(X, y, sample_weight=w)
    repeated = AttentionPolynomialRegressor(degree=3).fit(
        np.repeat(X, w, 0), np.repeat(y, w)
    )
    np.testing.assert_allclose(weighted.predict(X), repeated.predict(X), rtol=1e-8)


def test_multi_output_equals_separate_fits():
    X, y = cubic_data()
    Y = np.column_stack([y, X[:, 0] * X[:, 1] - 2.0])
    both = AttentionPolynomialRegressor(degree=3).fit(X, Y)
    assert both.predict(X).shape == (len(X), 2)
    for j in range(2):
        single = AttentionPolynomialRegressor(degree=3).fit(X, Y[:, j])
        np.testing.assert_allclose(both.predict(X)[:, j], single.predict(X), rtol=1e-9)
    polys = both.to_polynomial()
    assert isinstance(polys, list) and len(polys) == 2
    assert polys[1][(1, 1, 0)] == pytest.approx(1.0, abs=1e-9)
    assert polys[1][(0, 0, 0)] == pytest.approx(-2.0, abs=1e-9)


def test_column_vector_y_warns_and_predicts_1d():
    X, y = cubic_data(n=50)
    # the warning's message is checked in the bad-input matrix ("y column vector")
    with pytest.warns(DataConversionWarning):
        est = AttentionPolynomialRegressor().fit(X, y[:, None])
    assert est.predict(X).shape == (50,)


def test_to_polynomial_recovers_the_generating_polynomial_in_caller_units():
    rng = np.random.default_rng(7)
    X = rng.normal(loc=[5.0, -3.0], scale=[10.0, 0.1], size=(300, 2))
    y = 2.0 * X[:, 0] ** 2 - 4.0 * X[:, 0] * X[:, 1] + 7.0
    poly = AttentionPolynomialRegressor(degree=2).fit(X, y).to_polynomial()
    expected = {
        (0, 0): 7.0,
        (1, 0): 0.0,
        (0, 1): 0.0,
        (2, 0): 2.0,
        (1, 1): -4.0,
        (0, 2): 0.0,
    }
    for key, value in expected.items():  # y spans about 500: 1e-5 is 2e-8 of it
        assert poly[key] == pytest.approx(value, abs=1e-5)


# -- sklearn workflows -------------------------------------------------------------


def test_grid_search_over_degree_picks_three():
    X, y = cubic_data(n=600, noise=0.5, seed=2)
    search = GridSearchCV(
        make_pipeline(StandardScaler(), AttentionPolynomialRegressor()),
        {"attentionpolynomialregressor__degree": [1, 2, 3, 4, 5]},
        cv=KFold(5, shuffle=True, random_state=0),
    ).fit(X, y)
    assert search.best_params_ == {"attentionpolynomialregressor__degree": 3}


@pytest.mark.parametrize("solver", ["lstsq", "adam"])
def test_clone_pickle_joblib_round_trips(solver, tmp_path):
    X, y = cubic_data(n=200)
    est = AttentionPolynomialRegressor(
        degree=3, solver=solver, n_directions=12, random_state=0
    ).fit(X, y)
    expected = est.predict(X)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(est)).predict(X), expected)
    joblib.dump(est, tmp_path / "model.joblib")
    np.testing.assert_array_equal(
        joblib.load(tmp_path / "model.joblib").predict(X), expected
    )
    refit = clone(est).fit(X, y)
    np.testing.assert_array_equal(refit.predict(X), expected)


def test_random_state_controls_the_result():
    X, y = cubic_data(n=200)
    params = dict(
        degree=3, solver="sgd", n_directions=15, max_epochs=2, readout_init="zeros"
    )
    a = AttentionPolynomialRegressor(**params, random_state=1).fit(X, y).predict(X)
    b = AttentionPolynomialRegressor(**params, random_state=1).fit(X, y).predict(X)
    c = AttentionPolynomialRegressor(**params, random_state=2).fit(X, y).predict(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_feature_names_from_dataframe():
    pd = pytest.importorskip("pandas")
    X, y = cubic_data(n=50)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    est = AttentionPolynomialRegressor().fit(frame, y)
    assert est.feature_names_in_.tolist() == ["a", "b", "c"]
    assert est.n_features_in_ == 3


def test_save_and_load_params_through_the_net(tmp_path):
    X, y = cubic_data(n=100)
    est = AttentionPolynomialRegressor(degree=3).fit(X, y)
    est.net_.save_params(f_params=tmp_path / "params.pt")
    other = AttentionPolynomialRegressor(degree=3).fit(X, np.zeros_like(y) + 1.0)
    other.target_scaling_ = est.target_scaling_
    other.target_range_ = est.target_range_
    other.net_.load_params(f_params=tmp_path / "params.pt")
    np.testing.assert_array_equal(other.predict(X), est.predict(X))


# -- gradient solvers --------------------------------------------------------------


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_gradient_solvers_train_directions_within_the_unit_ball(solver):
    X, y = cubic_data(n=300)
    est = AttentionPolynomialRegressor(
        degree=3,
        solver=solver,
        n_directions=10,
        max_epochs=5,
        lr=1e-2,
        readout_init="zeros",
        random_state=0,
    )
    est.fit(X, y)
    module = est.net_.module_
    assert est.n_iter_ == 5 and len(est.loss_curve_) == 5
    assert all(np.isfinite(est.loss_curve_))
    assert torch.all(module.F.norm(dim=1) <= 1 + 1e-12)
    # the blocks are buffers: frozen, not in the optimizer
    optimized = {
        id(p) for group in est.net_.optimizer_.param_groups for p in group["params"]
    }
    assert optimized == {id(module.F), id(module.beta), id(module.b)}


def test_sgd_warm_start_readout_starts_at_the_lstsq_solution():
    X, y = cubic_data(n=300)
    common = dict(degree=3, n_directions=10, random_state=0)
    lstsq = AttentionPolynomialRegressor(**common).fit(X, y)
    sgd = AttentionPolynomialRegressor(**common, solver="sgd", max_epochs=1, lr=1e-9)
    sgd.fit(X, y)
    np.testing.assert_allclose(sgd.predict(X), lstsq.predict(X), rtol=1e-5, atol=1e-5)
    zeros = AttentionPolynomialRegressor(
        **common, solver="sgd", max_epochs=1, lr=1e-9, readout_init="zeros"
    ).fit(X, y)
    np.testing.assert_allclose(zeros.predict(X), y.mean(), rtol=1e-4)


@pytest.mark.slow
def test_paper_f1_with_ten_directions_and_sgd():
    """The paper's f1 task (Figure 2): 41 free parameters, SGD one-cycle."""
    rng = np.random.default_rng(0)
    X = rng.normal(scale=10.0, size=(10000, 2))
    f1 = X[:, 0] ** 2 + X[:, 1] ** 2
    y = f1 + rng.normal(size=10000)
    est = AttentionPolynomialRegressor(
        degree=2,
        n_directions=10,
        solver="sgd",
        max_epochs=20,
        batch_size=5000,
        random_state=0,
    )
    est.fit(X[:9000], y[:9000])
    assert est.net_.module_.count_free_parameters() == 41
    mse = np.mean((est.predict(X[9000:]) - f1[9000:]) ** 2)
    assert mse <= 0.05


def _diverging(**params):
    """A float32 SGD run whose loss becomes infinite in its second epoch."""
    defaults = dict(
        degree=3,
        solver="sgd",
        n_directions=5,
        lr=1e38,
        dtype="float32",
        readout_init="zeros",
        max_epochs=5,
        random_state=0,
    )
    return AttentionPolynomialRegressor(**(defaults | params))


def test_non_finite_loss_stops_with_a_clear_error():
    X, y = cubic_data(n=100)
    est = _diverging(max_epochs=50)
    # it stopped in its second epoch, not after the 50 it was given
    with pytest.raises(
        FloatingPointError,
        match=r"training loss became (nan|inf) in epoch 2\..*Lower lr",
    ):
        est.fit(X, y)
    with pytest.raises(NotFittedError):  # nothing of the failed fit was kept
        check_is_fitted(est)


def test_verbose_prints_skorch_epoch_table(capsys):
    X, y = cubic_data(n=100)
    AttentionPolynomialRegressor(
        solver="adam", n_directions=4, max_epochs=2, verbose=1
    ).fit(X, y)
    out = capsys.readouterr().out
    assert re.search(r"epoch\s+train_loss", out)
    assert re.search(r"^\s+1\s", out, flags=re.M) and re.search(
        r"^\s+2\s", out, flags=re.M
    )


def test_verbose_2_adds_a_progress_bar(capsys):
    X, y = cubic_data(n=100)
    AttentionPolynomialRegressor(
        solver="adam", n_directions=4, max_epochs=1, batch_size=50, verbose=2
    ).fit(X, y)
    captured = capsys.readouterr()
    assert "it/s" in captured.err


def test_user_callbacks_run_on_copies():
    class CountEpochs(Callback):
        def __init__(self):
            self.epochs = 0

        def on_epoch_end(self, net, **kwargs):
            self.epochs += 1

    counter = CountEpochs()
    X, y = cubic_data(n=100)
    est = AttentionPolynomialRegressor(
        solver="sgd", n_directions=4, max_epochs=3, callbacks=[counter]
    ).fit(X, y)
    assert counter.epochs == 0
    copies = [cb for _, cb in est.net_.callbacks_ if isinstance(cb, CountEpochs)]
    assert len(copies) == 1 and copies[0].epochs == 3


def test_float32_network():
    X, y = cubic_data()
    est = AttentionPolynomialRegressor(degree=3, dtype="float32").fit(X, y)
    assert est.net_.module_.F.dtype == torch.float32
    ref = make_pipeline(PolynomialFeatures(3), LinearRegression()).fit(X, y)
    assert relative(est.predict(X), ref.predict(X)) <= 1e-4


# -- the bound ---------------------------------------------------------------------


@FAR_OUT_ON_PURPOSE
def test_out_of_bound_policies():
    X, y = cubic_data(n=200)
    far = X[:3] * 10.0
    warn = AttentionPolynomialRegressor(degree=3, out_of_bound="warn").fit(X, y)
    with pytest.warns(
        OutOfBoundWarning, match=r"of 3 rows lie outside the guard radius"
    ):
        warn.predict(far)
    raise_ = clone(warn).set_params(out_of_bound="raise").fit(X, y)
    with pytest.raises(ValueError, match="rows lie outside the guard radius"):
        raise_.predict(far)
    np.testing.assert_array_equal(raise_.predict(X), warn.predict(X))
    clip = clone(warn).set_params(out_of_bound="clip").fit(X, y)
    with pytest.warns(OutOfBoundWarning):  # its message: the bad-input matrix
        clipped = clip.predict(far)
    scaled = clip.scaling_.transform(far)
    norms = np.linalg.norm(scaled, axis=1, keepdims=True)
    on_sphere = scaled * np.minimum(1.0, clip.guard_radius_ / norms)
    expected = warn.predict(on_sphere * clip.scaling_.scale + clip.scaling_.shift)
    np.testing.assert_allclose(clipped, expected, rtol=1e-10)


def test_training_rows_fill_the_bound_and_predict_silently_inside_guard():
    X, y = cubic_data(n=200)
    est = AttentionPolynomialRegressor(degree=3, bound=0.5, headroom=3.0).fit(X, y)
    norms = np.linalg.norm(est.scaling_.transform(X), axis=1)
    assert norms.max() == pytest.approx(0.5)
    assert est.guard_radius_ == pytest.approx(1.5)
    assert [round(b.M, 9) for b in est.net_.module_.blocks] == [1.65, 1.65, 2.475]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.predict(X * 2.5)  # 2.5 times the farthest row, inside 3
    # inside the guard radius: no OutOfBoundWarning; the cubic, 2.5 times out,
    # far outside the targets' range: the alarm, alone
    assert [w.category.__name__ for w in caught] == ["ExtrapolationWarning"]


# -- devices -----------------------------------------------------------------------


def test_auto_device_without_cuda_runs_on_the_cpu(monkeypatch):
    # that fit leaves device="auto" as it was is scikit-learn's
    # check_estimators_overwrite_params, in test_common.py
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    X, y = cubic_data(n=50)
    est = AttentionPolynomialRegressor().fit(X, y)
    assert est.device_ == "cpu"
    assert est.net_.module_.F.device == torch.device("cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_auto_device_with_cuda_runs_on_cuda():
    X, y = cubic_data(n=50)
    est = AttentionPolynomialRegressor().fit(X, y)
    assert est.device_ == "cuda"
    assert est.net_.module_.F.device.type == "cuda"


@pytest.mark.parametrize(
    "device, message",
    [
        ("cuda:x", "device='cuda:x' is not a device name"),
    ],
)
def test_bad_device(device, message):
    X, y = cubic_data(n=50)
    with pytest.raises(ValueError, match=re.escape(message)):
        AttentionPolynomialRegressor(device=device).fit(X, y)


@pytest.mark.skipif(torch.cuda.is_available(), reason="simulates a CPU-only machine")
def test_model_fitted_for_cuda_unpickles_on_a_cpu_only_machine():
    X, y = cubic_data(n=100)
    est = AttentionPolynomialRegressor(degree=3, device="cpu").fit(X, y)
    expected = est.predict(X)
    est.net_.device, est.device_ = "cuda", "cuda"  # as saved by a GPU machine
    with pytest.warns(DeviceWarning) as record:
        restored = pickle.loads(pickle.dumps(est))
    # skorch warns once for the net and once for the module's tensors
    messages = sorted(str(w.message) for w in record)
    assert len(messages) == 2
    assert "requested device (cuda) is not available" in messages[1]
    assert messages[0].startswith("Requested to load data to CUDA but no CUDA")
    assert restored.device_ == "cpu"
    np.testing.assert_array_equal(restored.predict(X), expected)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("solver", ["lstsq", "adam"])
def test_cuda_fit_matches_cpu_and_unpickles(solver):
    X, y = cubic_data(n=300)
    params = dict(
        degree=3, solver=solver, n_directions=10, max_epochs=2, random_state=0
    )
    gpu = AttentionPolynomialRegressor(**params, device="cuda").fit(X, y)
    cpu = AttentionPolynomialRegressor(**params, device="cpu").fit(X, y)
    assert gpu.device_ == "cuda"
    np.testing.assert_allclose(gpu.predict(X), cpu.predict(X), rtol=1e-6, atol=1e-8)
    buffer = io.BytesIO()
    pickle.dump(gpu, buffer)
    restored = pickle.loads(buffer.getvalue())
    np.testing.assert_allclose(restored.predict(X), gpu.predict(X), rtol=1e-12)


# -- bad parameters and data ------------------------------------------------------


@pytest.mark.parametrize(
    "params, message",
    [
        ({"degree": 0}, "'degree' parameter .* int in the range \\[1, inf\\)"),
        ({"degree": "3"}, "'degree' parameter"),
        ({"solver": "newton"}, "'solver' parameter .* must be a str among .*'newton'"),
    ],
)
def test_bad_parameters(params, message):
    X, y = cubic_data(n=20)
    with pytest.raises(InvalidParameterError, match=message):
        AttentionPolynomialRegressor(**params).fit(X, y)


# -- failed fits, and what a fitted estimator holds --------------------------------


def test_a_failed_refit_leaves_the_previous_fit_intact():
    X, y = cubic_data(n=100)
    est = _diverging().set_params(lr=1e-3).fit(X, y)
    before, expected = dict(vars(est)), est.predict(X)
    with pytest.raises(FloatingPointError):
        est.set_params(lr=1e38).fit(X * 2, y)
    state = vars(est)
    assert state.keys() == before.keys()
    fitted = [key for key in state if key.endswith("_")]
    assert all(state[key] is before[key] for key in fitted)
    assert est.lr == 1e38  # the parameters are the caller's, as set
    np.testing.assert_array_equal(est.predict(X), expected)


def test_a_fit_failing_midway_leaves_no_fitted_attribute(monkeypatch):
    from sklearn_attnpoly._solvers import _dispatch

    def fail(*args, **kwargs):
        raise KeyboardInterrupt  # after the scalings were fitted

    monkeypatch.setattr(_dispatch, "solve_readout", fail)
    X, y = cubic_data(n=50)
    est = AttentionPolynomialRegressor()
    with pytest.raises(KeyboardInterrupt):
        est.fit(X, y)
    assert [key for key in vars(est) if key.endswith("_")] == []
    with pytest.raises(NotFittedError):
        check_is_fitted(est)


def test_lstsq_net_predicts_without_an_optimizer():
    X, y = cubic_data(n=100)
    est = AttentionPolynomialRegressor(degree=3).fit(X, y)
    assert est.net_.optimizer is None and est.net_.optimizer_ is None
    X_scaled = est.scaling_.transform(X)
    # the estimator's predict (the module, in chunks) and skorch's agree
    expected = est.target_scaling_.inverse_transform(est.net_.predict(X_scaled))
    np.testing.assert_array_equal(est.predict(X), expected[:, 0])
    with pytest.raises(
        ValueError, match=r"This net has no optimizer \(optimizer=None\)"
    ):
        est.net_.partial_fit(X_scaled, y[:, None])
    est.net_.set_params(optimizer=torch.optim.SGD, lr=1e-3, max_epochs=1)
    est.net_.partial_fit(X_scaled, est.target_scaling_.transform(y[:, None]))
    assert isinstance(est.net_.optimizer_, torch.optim.SGD)


def test_a_diverging_run_keeps_its_best_epoch():
    X, y = cubic_data(n=200)
    params = dict(degree=3, n_directions=10, random_state=0)
    start = AttentionPolynomialRegressor(**params).fit(X, y)
    with pytest.warns(ConvergenceWarning) as record:
        est = AttentionPolynomialRegressor(
            **params, solver="sgd", lr=1e3, max_epochs=5
        ).fit(X, y)
    [message] = [str(w.message) for w in record]
    assert re.fullmatch(
        r"The training loss rose from \S+ \(epoch 0, where 0 is the start\) to \S+ "
        r"\(epoch 5\): the run diverged\. The parameters of epoch 0 were kept\. "
        r"Lower lr \(now 1000\)\.",
        message,
    )
    assert est.loss_curve_[-1] > 1e3 * max(est.loss_curve_[0], 1e-12)
    # epoch 0 is the lstsq start, kept bit for bit
    np.testing.assert_array_equal(est.predict(X), start.predict(X))


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("solver", ["lstsq", "sgd", "adam", "varpro"])
def test_no_solver_loses_the_fit_of_the_check_data(solver, dtype):
    """scikit-learn's check data (200 rows, 10 features, ``alpha=0.01`` as
    ``check_regressors_train`` sets it), every solver at its default budget, in
    either precision, with no warning: the closed form's R^2 is the degree-2
    least-squares optimum, 0.8591; the gradient solvers, started there, end
    within 0.005 of it; varpro's 4 learned directions (48 parameters against
    the closed form's 66) at least match the best linear model's 0.8066."""
    from sklearn.preprocessing import scale
    from sklearn.utils.estimator_checks import _regression_dataset

    X, y = _regression_dataset()
    X, y = X.astype(dtype), scale(y)
    params = {"n_directions": 4} if solver == "varpro" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = AttentionPolynomialRegressor(
            solver=solver, alpha=0.01, dtype=dtype, random_state=0, **params
        ).fit(X, y)
    closed_form = AttentionPolynomialRegressor(alpha=0.01).fit(X, y).score(X, y)
    linear = LinearRegression().fit(X, y).score(X, y)
    assert closed_form == pytest.approx(0.8591, abs=1e-4)
    assert linear == pytest.approx(0.8066, abs=1e-4)
    floor = linear if solver == "varpro" else closed_form - 0.005
    assert est.score(X, y) >= floor


def test_a_run_that_ends_above_its_start_ends_with_the_start():
    """Adam's short run from the closed form on 200 rows: its last epoch's
    loss is above the start (by less than the divergence ratio, so no
    warning), and the fit ends with the start's parameters, bit for bit."""
    X, y = cubic_data(n=200)
    params = dict(degree=3, n_directions=12, random_state=0)
    start = AttentionPolynomialRegressor(**params).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = AttentionPolynomialRegressor(
            **params, solver="adam", lr=3e-3, max_epochs=10
        ).fit(X, y)
    keep = dict(est.net_.callbacks_)["keep_best"]
    assert est.loss_curve_[-1] > 1.1 * est.loss_curve_[0]
    assert keep.best_epoch_ == 0
    np.testing.assert_array_equal(est.predict(X), start.predict(X))


def test_a_start_that_fits_exactly_is_kept_without_a_warning():
    """From an exact fit (noiseless cubic) Adam's steps can only raise the
    loss; the start is returned and no divergence is reported."""
    X, y = cubic_data(n=200, noise=0.0)
    params = dict(degree=3, random_state=0)
    start = AttentionPolynomialRegressor(**params).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = AttentionPolynomialRegressor(**params, solver="adam", max_epochs=3).fit(
            X, y
        )
    assert est.loss_curve_[-1] > 1e6 * max(est.loss_curve_[0], 1e-30)
    np.testing.assert_array_equal(est.predict(X), start.predict(X))


# == Hostile input, one matrix ======================================================
# Every case gives the right answer or a clear error or warning, never a silent
# wrong number. Each case is a call and its exact outcome: an error (type and
# message fragment), a warning (class and fragment), or predictions equal to
# the polynomial that generated the data, to a stated relative tolerance.


RNG = np.random.default_rng(0)


X = RNG.normal(size=(40, 3))


def f(X):
    """The data's polynomial: degree 2, all three features."""
    X = np.asarray(X, dtype=float)
    return X[:, 0] ** 2 - 3 * X[:, 0] * X[:, 1] + 0.5 * X[:, 2] + 1.0


Y = f(X)


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
    # -- gradient runs
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


# -- the guard radius's own precision ------------------------------------------------


@pytest.mark.parametrize(
    "dtype, headroom, degree, rounding",
    [("float32", 1000.0, 2, 0.29), ("float64", 1e8, 2, 3.0)],
)
def test_a_large_headroom_is_refused(dtype, headroom, degree, rounding):
    X = np.random.default_rng(0).normal(size=(50, 2))
    y = X[:, 0] ** 2 - X[:, 0] * X[:, 1]
    tolerance = RELATIVE_TOLERANCE[getattr(torch, dtype)]
    assert guard_rounding(1.0, headroom, degree, getattr(torch, dtype)) == (
        pytest.approx(rounding, rel=0.05)
    )
    est = AttentionPolynomialRegressor(degree=degree, dtype=dtype, headroom=headroom)
    with pytest.raises(ValueError) as raised:
        est.fit(X, y)
    message = str(raised.value)
    assert re.fullmatch(
        re.escape(
            f"headroom={headroom:g} builds the blocks for a guard radius of "
            f"{headroom:g} (the network's units), which rounds the training rows' "
            "powers with a relative error up to "
        )
        + r"\S+ in "
        + re.escape(f"{dtype}, above the {tolerance:g} allowed; headroom <= ")
        + r"\S+ stays within it\. Rows beyond the guard radius need no headroom: "
        r"out_of_bound='extend' predicts the fitted polynomial there\.",
        message,
    )
    # the largest headroom the message names fits, and predicts the quadratic
    largest = float(message.split("headroom <= ")[1].split(" ")[0])
    fitted = est.set_params(headroom=largest).fit(X, y)
    np.testing.assert_allclose(
        fitted.predict(X), y, atol=10 * tolerance * np.abs(y).max()
    )


# == partial_fit and Dask arrays ===================================================
# The moments summed in pieces give the model fit gives on all the rows at once.


def _data(n_samples=1200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 3)) * [1.0, 3.0, 0.2] + [2.0, -1.0, 5.0]
    y = X[:, 0] ** 3 - X[:, 1] * X[:, 2] + rng.normal(size=n_samples)
    w = rng.uniform(0.0, 2.0, size=n_samples)
    X_test = rng.normal(size=(200, 3)) * [1.0, 3.0, 0.2] + [2.0, -1.0, 5.0]
    return X, y, w, X_test


def _same_model(a, b, X_test, rtol=1e-9):
    expected = b.predict(X_test)
    np.testing.assert_allclose(
        a.predict(X_test), expected, rtol=0, atol=rtol * abs(expected).max()
    )


def test_partial_fit_over_batches_equals_fit():
    X, y, w, X_test = _data()
    whole = AttentionPolynomialRegressor(degree=3, alpha=1e-4).fit(X, y, w)
    pieces = AttentionPolynomialRegressor(degree=3, alpha=1e-4)
    for rows in np.array_split(np.arange(len(X)), 7):
        pieces.partial_fit(X[rows], y[rows], sample_weight=w[rows])
    assert pieces.moments_.n_samples == int((w > 0).sum())
    _same_model(pieces, whole, X_test)
    got, expected = pieces.to_polynomial(), whole.to_polynomial()
    np.testing.assert_allclose(
        [got[k] for k in expected], list(expected.values()), rtol=1e-8, atol=1e-9
    )


def test_one_partial_fit_is_fit():
    X, y, w, X_test = _data(seed=1)
    once = AttentionPolynomialRegressor(degree=2).partial_fit(X, y, sample_weight=w)
    whole = AttentionPolynomialRegressor(degree=2).fit(X, y, sample_weight=w)
    once.predict(X_test[:1])  # the solve, at the first prediction
    np.testing.assert_allclose(once.scaling_.shift, whole.scaling_.shift, rtol=1e-13)
    np.testing.assert_allclose(once.scaling_.scale, whole.scaling_.scale, rtol=1e-13)
    _same_model(once, whole, X_test, rtol=1e-11)


def test_later_batches_far_outside_the_first_are_summed_exactly():
    X, y, _, _ = _data(seed=2)
    far = X * 10.0
    y_far = far[:, 0] ** 3 - far[:, 1] * far[:, 2]
    pieces = AttentionPolynomialRegressor(degree=3)
    pieces.partial_fit(X[:300], y[:300]).partial_fit(far, y_far)
    whole = AttentionPolynomialRegressor(degree=3).fit(
        np.vstack([X[:300], far]), np.concatenate([y[:300], y_far])
    )
    _same_model(pieces, whole, far, rtol=1e-8)
    # the blocks hold every training row: none is out of bound
    assert np.linalg.norm(
        pieces.scaling_.transform(far), axis=1
    ).max() <= pieces.bound * (1 + 1e-12)


def test_the_solve_waits_for_the_first_prediction():
    X, y, _, X_test = _data(seed=3)
    est = AttentionPolynomialRegressor(degree=2).partial_fit(X[:600], y[:600])
    assert "net_" not in vars(est) and "moments_" in vars(est)
    first = est.predict(X_test)  # solves the sums
    assert "net_" in vars(est)
    _same_model(
        est, AttentionPolynomialRegressor(degree=2).fit(X[:600], y[:600]), X_test
    )
    est.partial_fit(X[600:], y[600:])
    assert "net_" not in vars(est)  # stale: solved again at the next prediction
    _same_model(est, AttentionPolynomialRegressor(degree=2).fit(X, y), X_test)
    assert not np.allclose(first, est.predict(X_test))
    assert not hasattr(AttentionPolynomialRegressor, "__getattr__")


def test_a_summed_model_pickles_and_predicts():
    X, y, _, X_test = _data(seed=4)
    est = AttentionPolynomialRegressor(degree=2).partial_fit(X, y)
    copy = pickle.loads(pickle.dumps(est))
    np.testing.assert_allclose(copy.predict(X_test), est.predict(X_test))


def test_partial_fit_after_fit_starts_a_new_sum():
    X, y, _, X_test = _data(seed=5)
    est = AttentionPolynomialRegressor(degree=2).fit(X[:500], y[:500])
    est.partial_fit(X[500:], y[500:])
    _same_model(
        est, AttentionPolynomialRegressor(degree=2).fit(X[500:], y[500:]), X_test
    )
    est.fit(X[:500], y[:500])  # fit drops the sum
    assert "moments_" not in est.__dict__


@pytest.mark.parametrize(
    "change, message",
    [
        ({"X": lambda X: X[:, :2]}, "X has 2 features"),
        ({"y": lambda y: np.column_stack([y, y])}, "the moments summed so far have 1"),
    ],
)
def test_later_batches_must_match_the_first(change, message):
    X, y, _, _ = _data(seed=6)
    est = AttentionPolynomialRegressor(degree=2).partial_fit(X, y)
    X2 = change.get("X", lambda X: X)(X)
    y2 = change.get("y", lambda y: y)(y)
    with pytest.raises(ValueError, match=message):
        est.partial_fit(X2, y2)


def test_partial_fit_refuses_gradient_solvers_and_weightless_batches():
    X, y, w, _ = _data(seed=7)
    # as scikit-learn's MLPRegressor: the method is absent, the reason chained
    with pytest.raises(AttributeError, match="has no attribute 'partial_fit'") as e:
        AttentionPolynomialRegressor(solver="sgd").partial_fit(X, y)
    assert "partial_fit needs solver='lstsq'" in str(e.value.__cause__)
    assert not hasattr(AttentionPolynomialRegressor(solver="adam"), "partial_fit")
    with pytest.raises(ValueError, match="at least one non-zero number"):
        AttentionPolynomialRegressor().partial_fit(X, y, sample_weight=0 * w)


# -- Dask ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def test_dask_fit_equals_the_numpy_fit(dask_client):
    da = pytest.importorskip("dask.array")
    X, y, w, X_test = _data(seed=8)
    Y = np.column_stack([y, X[:, 1] ** 2])
    whole = AttentionPolynomialRegressor(degree=3, alpha=1e-3).fit(X, Y, w)
    chunked = AttentionPolynomialRegressor(degree=3, alpha=1e-3).fit(
        da.from_array(X, chunks=(250, 2)),
        da.from_array(Y, chunks=(100, 2)),
        sample_weight=da.from_array(w, chunks=300),
    )
    assert chunked.n_features_in_ == 3 and chunked.n_outputs_ == 2
    np.testing.assert_allclose(chunked.scaling_.scale, whole.scaling_.scale, rtol=1e-12)
    _same_model(chunked, whole, X_test, rtol=1e-10)


def test_dask_fit_checks_its_chunks(dask_client):
    da = pytest.importorskip("dask.array")
    X, y, _, _ = _data(seed=9)
    X[700, 1] = np.nan
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        AttentionPolynomialRegressor().fit(da.from_array(X, chunks=200), y)
    with pytest.raises(ValueError, match="needs solver='lstsq'"):
        AttentionPolynomialRegressor(solver="adam").fit(da.from_array(X), y)


def test_a_failed_solve_sets_nothing_and_is_tried_again(monkeypatch):
    X, y, _, X_test = _data(seed=10)
    est = AttentionPolynomialRegressor(degree=2).partial_fit(X, y)
    before = dict(vars(est))

    def fail(*args, **kwargs):
        raise MemoryError("no room for the system")

    monkeypatch.setattr(
        "sklearn_attnpoly._solvers._dispatch.readout_from_moments", fail
    )
    with pytest.raises(MemoryError, match="no room"):
        est.predict(X_test)
    assert vars(est).keys() == before.keys()  # nothing half-solved
    assert all(vars(est)[key] is before[key] for key in before)
    monkeypatch.undo()
    expected = AttentionPolynomialRegressor(degree=2).fit(X, y).predict(X_test)
    np.testing.assert_allclose(est.predict(X_test), expected, rtol=1e-9, atol=1e-9)


def test_a_failed_batch_adds_nothing():
    X, y, _, X_test = _data(seed=10)
    est = AttentionPolynomialRegressor(degree=2).partial_fit(X[:500], y[:500])
    before = dict(vars(est))
    with pytest.raises(ValueError, match="features"):
        est.partial_fit(X[500:, :2], y[500:])
    assert vars(est).keys() == before.keys()
    assert all(vars(est)[key] is before[key] for key in before)


# == Beyond the guard radius =======================================================
# out_of_bound="extend" and the rounding estimate it is checked against.


#: Every prediction of the tests marked with this is far outside the training
#: rows on purpose, to measure the precision of the extension; the alarm that
#: says so (``ExtrapolationWarning``) is tested in ``test_guard.py``.
LONG = np.longdouble  # 64-bit significand on x86: the references below


def evaluate_long(poly, X):
    """A ``{exponents: coefficient}`` polynomial at the rows of X, in long
    double."""
    X = np.asarray(X, dtype=LONG)
    y = np.zeros(len(X), dtype=LONG)
    for exponents, c in poly.items():
        y += LONG(c) * np.prod(X ** np.array(exponents), axis=1)
    return y


def network_polynomial_long(est, X):
    """The polynomial the fitted network represents, ``sum_ik beta_ik (-t_i)^k
    + b`` with ``t = F x_tilde``, at the scaled rows ``x_tilde`` that
    ``predict`` computes, in long double and the caller's target units."""
    module = est.net_.module_
    F = module.F.detach().double().numpy().astype(LONG)
    beta = (module.beta * module.mask[..., None]).detach().double().numpy()
    t = est.scaling_.transform(X).astype(LONG) @ F.T
    y = np.zeros((len(X), beta.shape[2]), dtype=LONG) + module.b.detach().numpy()
    for k in range(1, est.degree + 1):
        y += (-t) ** k @ beta[:, k - 1].astype(LONG)
    return (y * est.target_scaling_.scale + est.target_scaling_.mean)[:, 0]


def predicted_error_estimate(est, X):
    """The package's own estimate for the rows of X, caller's units."""
    norms = np.linalg.norm(est.scaling_.transform(X), axis=1)
    j = max(0, math.ceil(math.log2(norms.max() / est.guard_radius_)))
    module = est.net_.module_
    return float(module.rounding_error(j)[0]) * est.target_scaling_.scale[0]


def random_polynomial(d, q, rng):
    exponents = monomial_exponents(d, q)
    return {
        tuple(map(int, e)): float(c)
        for e, c in zip(exponents, rng.normal(size=len(exponents)), strict=True)
    }


def noisy_fit(degree, dtype="float64", seed=0, d=3):
    """An lstsq fit on noisy data: a generic fitted polynomial."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(300, d))
    exponents = monomial_exponents(d, degree)
    design = np.prod(X[:, None, :] ** exponents[None], axis=2)
    y = design @ rng.normal(size=len(exponents)) + 0.1 * rng.normal(size=len(X))
    est = AttentionPolynomialRegressor(degree=degree, dtype=dtype).fit(X, y)
    return est, X


def relative_to_largest(got, want):
    return float(np.abs(got - want).max() / np.abs(want).max())


# -- the default: predictions are the fitted polynomial, far out too ---------------


@FAR_OUT_ON_PURPOSE
@pytest.mark.parametrize("degree", [1, 2, 3])
@pytest.mark.parametrize("factor", [10.0, 1000.0])
def test_far_predictions_equal_to_polynomial_to_1e_8(degree, factor):
    est, X = noisy_fit(degree)
    X_far = np.random.default_rng(1).normal(size=(200, 3)) * factor
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = est.predict(X_far)
    # exact far out (no OutOfBoundWarning); the values extrapolate (degree 1
    # at 10 times the rows may stay inside the widened range)
    assert {w.category for w in caught} <= {ExtrapolationWarning}
    want = evaluate_long(est.to_polynomial(), X_far).astype(float)
    assert relative_to_largest(got, want) <= 1e-8


@FAR_OUT_ON_PURPOSE
@pytest.mark.parametrize("degree", [4, 5, 6])
@pytest.mark.parametrize("factor", [1.0, 10.0, 1000.0, 1e6])
def test_far_predictions_of_high_degree_are_within_the_estimate(degree, factor):
    est, X = noisy_fit(degree)
    X_far = np.random.default_rng(2).normal(size=(200, 3)) * factor
    got = est.predict(X_far)
    want = network_polynomial_long(est, X_far).astype(float)
    assert np.abs(got - want).max() <= predicted_error_estimate(est, X_far)
    # and the estimate is no empty promise: within 1e-9 of the largest value
    assert predicted_error_estimate(est, X_far) <= 1e-9 * np.abs(want).max()


@FAR_OUT_ON_PURPOSE
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("d, q", [(1, 1), (1, 6), (2, 2), (2, 5), (3, 3), (4, 4)])
def test_the_rounding_estimate_is_never_exceeded(dtype, d, q):
    rng = np.random.default_rng(10 * d + q)
    for _ in range(3):  # three polynomials
        est = AttentionPolynomialRegressor.from_polynomial(
            random_polynomial(d, q, rng), radius=1.0, dtype=dtype
        )
        for factor in (1.0, 1.9, 30.0, 1e3, 1e5):
            X = rng.normal(size=(300, d))
            X *= factor / np.linalg.norm(X, axis=1, keepdims=True).max()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", OutOfBoundWarning)
                got = est.predict(X)
            want = network_polynomial_long(est, X).astype(float)
            assert np.abs(got - want).max() <= predicted_error_estimate(est, X)


@FAR_OUT_ON_PURPOSE
def test_no_warning_where_predictions_are_exact():
    # the README's polynomial, and rows just beyond its guard radius of 2
    est = AttentionPolynomialRegressor.from_polynomial({(2, 0): 1.0, (0, 2): 1.0})
    X = np.array([[0.3, 0.4], [1.2 * 2.0, 0.0], [1e4, -3e4]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = est.predict(X)
    np.testing.assert_allclose(got, [0.25, 5.76, 1e9], rtol=1e-14)


@FAR_OUT_ON_PURPOSE
def test_float32_warns_when_the_estimate_exceeds_its_tolerance():
    est, X = noisy_fit(6, dtype="float32")
    X_far = X * 10.0
    with pytest.warns(
        OutOfBoundWarning,
        match=r"265 of 300 rows lie outside the guard radius; their predictions "
        r"are the fitted polynomial with an estimated rounding error of .* above "
        r"the 0.001 expected of float32",
    ):
        got = est.predict(X_far)
    want = network_polynomial_long(est, X_far).astype(float)
    estimate = predicted_error_estimate(est, X_far)
    assert estimate > 1e-3 * np.abs(got).max()
    assert np.abs(got - want).max() <= estimate


@FAR_OUT_ON_PURPOSE
def test_overflowing_polynomial_is_an_error():
    est = AttentionPolynomialRegressor.from_polynomial({(2,): 1.0})
    assert est.predict([[1e150]])[0] == pytest.approx(1e300, rel=1e-14)
    with pytest.raises(
        ValueError, match="The fitted polynomial exceeds the largest float64"
    ):
        est.predict([[1e160]])


def module_polynomial_long(module, x):
    """``sum_ik beta_ik (-t_i)^k + b`` at the rows x, in long double."""
    F = module.F.detach().double().numpy().astype(LONG)
    beta = (module.beta * module.mask[..., None]).detach().double().numpy()
    t = x.double().numpy().astype(LONG) @ F.T
    y = np.zeros((len(t), beta.shape[2]), dtype=LONG) + module.b.detach().numpy()
    for k in range(1, beta.shape[1] + 1):
        y += (-t) ** k @ beta[:, k - 1].astype(LONG)
    return y.astype(float)


@FAR_OUT_ON_PURPOSE
@pytest.mark.parametrize("engine", ["structured", "dense"])
def test_scaled_forward_is_the_polynomial_beyond_the_radius(engine):
    est = AttentionPolynomialRegressor.from_polynomial(
        random_polynomial(2, 3, np.random.default_rng(0)), engine=engine
    )
    module = est.net_.module_
    x = torch.randn(50, 2, dtype=torch.float64)
    x *= 8 * module.radius / x.norm(dim=1, keepdim=True).max()  # up to 2^3 radius
    with torch.no_grad():
        scaled, plain = module(x, 3).numpy(), module(x).numpy()
    want = module_polynomial_long(module, x)
    error = module.rounding_error(3).numpy()
    assert np.abs(scaled - want).max() <= error.max()
    assert np.abs(plain - want).max() > 1e3 * error.max()  # the blocks alone fail


# == Softmax attention (attention="boltzmann") ======================================


@pytest.mark.parametrize("solver", ["lstsq", "varpro", "sgd", "adam"])
def test_every_solver_fits_with_softmax_attention(solver):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(150, 2))
    y = X[:, 0] ** 2 - X[:, 0] * X[:, 1] + 0.5
    kwargs = {"n_directions": 3} if solver == "varpro" else {}
    est = AttentionPolynomialRegressor(
        degree=2, attention="boltzmann", solver=solver, max_epochs=5,
        random_state=0, **kwargs,
    )  # fmt: skip
    with warnings.catch_warnings():
        # Adam's first steps from the closed-form start, at zero loss, raise
        # it: the start is kept, with nothing to report
        warnings.simplefilter("error")
        est.fit(X, y)
    assert est.score(X, y) > 0.99
    assert isinstance(est.error_bound_, float)
    if solver == "lstsq":  # the polynomial's readout: within the bound of it
        exact = AttentionPolynomialRegressor(degree=2).fit(X, y)
        rounding = 1e-12 * np.abs(exact.predict(X)).max()
        difference = np.abs(est.predict(X) - exact.predict(X)).max()
        assert difference <= est.error_bound_ + rounding


def test_a_loose_temperature_warns_at_predict():
    est = AttentionPolynomialRegressor.from_polynomial(
        {(2, 0): 1.0, (1, 1): -1.0}, attention="boltzmann", inverse_temperature=3.0
    )
    with pytest.warns(
        BoltzmannErrorWarning,
        match="a larger inverse_temperature .now 3. tightens it",
    ):
        est.predict([[0.5, 0.5]])
    with pytest.raises(
        ValueError,
        match=r"'inverse_temperature' parameter .* must be a float in the range "
        r"\(0.0, inf\)",
    ):
        AttentionPolynomialRegressor(
            attention="boltzmann", inverse_temperature=0.0
        ).fit([[0.0], [1.0]], [0.0, 1.0])


def test_beta_is_the_deprecated_name_of_the_inverse_temperature():
    X = np.random.default_rng(0).normal(size=(40, 2))
    y = X[:, 0] ** 2 - X[:, 0] * X[:, 1]
    new = AttentionPolynomialRegressor(
        attention="boltzmann", inverse_temperature=30.0
    ).fit(X, y)
    with pytest.warns(
        FutureWarning,
        match=r"^'beta' was renamed 'inverse_temperature' in 0.2 and will be "
        r"removed in 0.4; pass inverse_temperature instead.$",
    ):
        old = AttentionPolynomialRegressor(attention="boltzmann", beta=30.0).fit(X, y)
    np.testing.assert_array_equal(old.predict(X), new.predict(X))
    assert old.error_bound_ == new.error_bound_ > 0
    with pytest.warns(FutureWarning, match="'beta' was renamed"):
        AttentionPolynomialRegressor.from_polynomial(
            {(2, 0): 1.0}, attention="boltzmann", beta=30.0
        )


def test_the_error_bound_has_one_entry_per_output():
    X = np.random.default_rng(0).normal(size=(40, 2))
    y = X[:, 0] ** 2 - X[:, 0] * X[:, 1]
    Y = np.column_stack([y, 3 * y])
    est = AttentionPolynomialRegressor(attention="boltzmann", inverse_temperature=30.0)
    bound = est.fit(X, Y).error_bound_
    assert bound.shape == (2,)
    np.testing.assert_allclose(bound[1], 3 * bound[0], rtol=1e-6)


@pytest.mark.slow
def test_the_default_temperature_gives_f2_to_one_part_in_a_million():
    from sklearn_attnpoly.paper.datasets import PAPER_F2, paper_f2

    est = AttentionPolynomialRegressor.from_polynomial(
        PAPER_F2, radius=5.0, attention="boltzmann"
    )
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 10))
    X *= 5 * rng.uniform(size=(20, 1)) / np.linalg.norm(X, axis=1, keepdims=True)
    exact = paper_f2(X)
    assert np.abs(est.predict(X) - exact).max() <= 1e-6 * np.abs(exact).max()
    assert est.error_bound_ <= 1e-6 * np.abs(exact).max()


def test_a_softmax_batch_that_cannot_fit_is_refused_before_any_work():
    """f2's shape: 2002 tokens score each other in every one of the five
    blocks, and training keeps every block's gaps and weights for the
    backward pass: (2 q + 1) 4096 n^2 float64 entries, 1345.5 GiB."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(5000, 10)), rng.normal(size=5000)
    est = AttentionPolynomialRegressor(
        degree=5, attention="boltzmann", solver="adam", batch_size=4096
    )
    with pytest.raises(
        MemoryError, match=r"attention='boltzmann' needs about 1345.5 GiB"
    ):
        est.fit(X, y)
    assert not hasattr(est, "net_")
