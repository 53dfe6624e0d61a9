"""AttentionPolynomialRegressor as a scikit-learn estimator."""

import io
import pickle
import re
import warnings

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import Callback
from skorch.exceptions import DeviceWarning

from sklearn_attnpoly import AttentionPolynomialRegressor, OutOfBoundWarning


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


def test_bad_sample_weight():
    X, y = cubic_data(n=20)
    with pytest.raises(
        ValueError, match="Negative values in data passed to `sample_weight`"
    ):
        AttentionPolynomialRegressor().fit(X, y, sample_weight=-np.ones(20))
    with pytest.raises(
        ValueError, match="Sample weights must contain at least one non-zero number"
    ):
        AttentionPolynomialRegressor().fit(X, y, sample_weight=np.zeros(20))
    with pytest.raises(
        ValueError, match=r"sample_weight.shape == \(3,\), expected \(20,\)"
    ):
        AttentionPolynomialRegressor().fit(X, y, sample_weight=np.ones(3))


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
    with pytest.warns(Warning, match="A column-vector y was passed"):
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
    with pytest.warns(OutOfBoundWarning, match="projected onto it"):
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


def test_auto_device_is_resolved_without_changing_the_parameter():
    X, y = cubic_data(n=50)
    est = AttentionPolynomialRegressor().fit(X, y)
    assert est.device == "auto"
    assert est.device_ == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.parametrize(
    "device, message",
    [
        ("tpu", "device='tpu' is not a device name"),
        ("cuda:x", "device='cuda:x' is not a device name"),
        ("meta", "device='meta' is not supported"),
    ],
)
def test_bad_device(device, message):
    X, y = cubic_data(n=50)
    with pytest.raises(ValueError, match=re.escape(message)):
        AttentionPolynomialRegressor(device=device).fit(X, y)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only message")
def test_cuda_requested_without_cuda():
    X, y = cubic_data(n=50)
    with pytest.raises(
        ValueError, match="device='cuda:1' was requested but CUDA is not"
    ):
        AttentionPolynomialRegressor(device="cuda:1").fit(X, y)


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
        ({"degree": 2.5}, "'degree' parameter"),
        ({"degree": "3"}, "'degree' parameter"),
        ({"n_directions": 0}, "'n_directions' parameter"),
        ({"solver": "newton"}, "'solver' parameter .* must be a str among .*'newton'"),
        ({"alpha": -1.0}, "'alpha' parameter"),
        ({"lr": 0.0}, "'lr' parameter"),
        ({"headroom": 0.5}, "'headroom' parameter"),
        ({"out_of_bound": "ignore"}, "'out_of_bound' parameter"),
        ({"dtype": "float16"}, "'dtype' parameter"),
    ],
)
def test_bad_parameters(params, message):
    X, y = cubic_data(n=20)
    with pytest.raises(InvalidParameterError, match=message):
        AttentionPolynomialRegressor(**params).fit(X, y)


@pytest.mark.parametrize(
    "X, message",
    [
        (np.array([[1.0, np.nan, 0.0]] * 5), "Input X contains NaN"),
        (np.array([[1.0, np.inf, 0.0]] * 5), "Input X contains infinity"),
        (np.empty((0, 3)), "0 sample"),
        (np.array([[1 + 1j, 0, 0]] * 5), "Complex data not supported"),
        (np.array([["a", "b", "c"]] * 5), "could not convert string to float"),
    ],
)
def test_bad_training_data(X, message):
    with pytest.raises(ValueError, match=message):
        AttentionPolynomialRegressor().fit(X, np.ones(len(X)))


def test_bad_prediction_data():
    X, y = cubic_data(n=50)
    est = AttentionPolynomialRegressor().fit(X, y)
    with pytest.raises(
        ValueError,
        match="X has 2 features, but AttentionPolynomialRegressor is expecting 3",
    ):
        est.predict(X[:, :2])
    with pytest.raises(ValueError, match="Input X contains NaN"):
        est.predict(np.where(X > 1, np.nan, X))
    with pytest.raises(ValueError, match="Input y contains NaN"):
        AttentionPolynomialRegressor().fit(X, np.where(y > 0, np.nan, y))


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
