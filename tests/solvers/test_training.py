"""The gradient solvers' training (``_solvers/_training.py``): batches, weights,
schedule, the one-pass step, prediction."""

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback, EpochScoring
from skorch.dataset import Dataset
from torch.utils.data import DataLoader

from sklearn_attnpoly import AttentionPolynomialRegressor
from sklearn_attnpoly._solvers import _skorch, _training
from sklearn_attnpoly._solvers._training import WeightedMSELoss
from sklearn_attnpoly.attention import _network


def _data(n=103, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = X[:, 0] ** 2 - X[:, 1] * X[:, 2] + 0.3 * rng.normal(size=n)
    return X, y


class RecordBatches(Callback):
    """Keeps every training batch (inputs, targets and row weights) and the
    learning rate it was trained with."""

    def initialize(self):
        self.batches, self.lrs = [], []
        return self

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if training:
            X, y = batch
            rows = [torch.as_tensor(v).clone() for v in (X["X"], y, X["sample_weight"])]
            self.batches.append(tuple(rows))
            self.lrs.append(net.optimizer_.param_groups[0]["lr"])


def _recorder(est):
    [recorder] = [cb for _, cb in est.net_.callbacks_ if isinstance(cb, RecordBatches)]
    return recorder


def _sgd(**params):
    defaults = dict(
        degree=2,
        n_directions=6,
        solver="sgd",
        batch_size=25,
        max_epochs=3,
        lr=1e-2,
        readout_init="zeros",  # the steps have something to learn
        dtype="float64",
        device="cpu",
        random_state=0,
    )
    return AttentionPolynomialRegressor(**(defaults | params))


def _epochs(batches, per_epoch):
    return [batches[i : i + per_epoch] for i in range(0, len(batches), per_epoch)]


def test_fit_equals_fit_with_the_per_row_loader(monkeypatch):
    X, y = _data()
    w = np.random.default_rng(1).uniform(0.5, 2.0, size=len(y))
    ours = _sgd(callbacks=[RecordBatches()]).fit(X, y, sample_weight=w)
    monkeypatch.setattr(_skorch, "batch_loader", DataLoader)
    monkeypatch.setattr(_skorch, "BatchDataset", Dataset)
    per_row = _sgd(callbacks=[RecordBatches()]).fit(X, y, sample_weight=w)
    assert per_row.net_.iterator_train is DataLoader  # the patch took
    got, expected = _recorder(ours).batches, _recorder(per_row).batches
    assert len(got) == len(expected) == 3 * 5
    for batch_got, batch_exp in zip(got, expected, strict=True):
        assert all(map(torch.equal, batch_got, batch_exp))
    np.testing.assert_array_equal(ours.predict(X), per_row.predict(X))
    assert ours.loss_curve_ == per_row.loss_curve_


# -- the one-pass training step -------------------------------------------------


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_one_pass_step_fits_what_skorchs_step_fits(monkeypatch, dtype):
    X, y = _data()
    Y = np.column_stack([y, X[:, 0] - X[:, 2]])
    w = np.random.default_rng(1).uniform(0.5, 2.0, size=len(y))
    calls = []
    one_pass = _network.WeightedMSEReadout

    class Counted(one_pass):
        @staticmethod
        def forward(ctx, *args):
            calls.append(len(args[0]))
            return one_pass.forward(ctx, *args)

    monkeypatch.setattr(_network, "WeightedMSEReadout", Counted)
    ours = _sgd(dtype=dtype).fit(X, Y, sample_weight=w)
    assert calls == [25, 25, 25, 25, 3] * 3
    # skorch's own step: infer, get_loss and autograd
    monkeypatch.setattr(
        _training.WeightedRegressorNet, "one_pass_step", lambda *a: None
    )
    skorchs = _sgd(dtype=dtype).fit(X, Y, sample_weight=w)
    assert len(calls) == 15
    np.testing.assert_array_equal(ours.predict(X), skorchs.predict(X))
    assert ours.loss_curve_ == skorchs.loss_curve_


def test_dense_engine_and_other_criteria_take_skorchs_step(monkeypatch):
    def fail(*args):
        raise AssertionError("the one-pass step was taken")

    monkeypatch.setattr(_network.WeightedMSEReadout, "apply", fail)
    X, y = _data(n=30)
    est = _sgd(engine="dense", n_directions=3, max_epochs=1).fit(X, y)
    assert est.n_iter_ == 1
    net = est.net_.set_params(criterion=torch.nn.MSELoss).initialize()
    net.partial_fit(X[:, :3].astype(np.float64), y[:, None])  # no weight column


# -- what a fit trains on ---------------------------------------------------------


def test_every_row_with_its_weight_once_per_epoch_last_batch_partial():
    X, y = _data()
    w = np.random.default_rng(2).uniform(0.5, 2.0, size=len(y))
    est = _sgd(callbacks=[RecordBatches()]).fit(X, y, sample_weight=w)
    recorder = _recorder(est)
    X_scaled = est.scaling_.transform(X)
    epochs = _epochs(recorder.batches, 5)
    assert len(epochs) == 3
    orders = []
    for epoch in epochs:
        assert [len(xb) for xb, _, _ in epoch] == [25, 25, 25, 25, 3]
        xb, yb, wb = (torch.cat(part).numpy() for part in zip(*epoch, strict=True))
        # which training row each batch row is
        order = np.array([np.flatnonzero((X_scaled == row).all(1))[0] for row in xb])
        assert sorted(order) == list(range(len(X)))
        np.testing.assert_array_equal(wb, (w / w.mean())[order])
        np.testing.assert_array_equal(
            yb, est.target_scaling_.transform(y[:, None])[order]
        )
        orders.append(order)
    assert not np.array_equal(orders[0], orders[1])  # shuffled every epoch
    assert est.net_.history[:, "train_batch_count"] == [5, 5, 5]


def test_same_seed_same_fit_other_seed_other_batches():
    X, y = _data()
    a = _sgd(callbacks=[RecordBatches()], random_state=3).fit(X, y)
    b = _sgd(callbacks=[RecordBatches()], random_state=3).fit(X, y)
    c = _sgd(callbacks=[RecordBatches()], random_state=4).fit(X, y)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    for batch_a, batch_b in zip(
        _recorder(a).batches, _recorder(b).batches, strict=True
    ):
        assert all(map(torch.equal, batch_a, batch_b))
    assert not torch.equal(_recorder(a).batches[0][1], _recorder(c).batches[0][1])
    assert not np.allclose(a.predict(X), c.predict(X))


def test_one_cycle_steps_once_per_batch_partial_batch_included():
    X, y = _data()
    est = _sgd(callbacks=[RecordBatches()], lr=0.05).fit(X, y)
    lrs = _recorder(est).lrs
    assert len(lrs) == 15  # OneCycleLR was built for 3 * ceil(103 / 25) steps
    assert lrs[0] == pytest.approx(0.005)
    assert max(lrs) == pytest.approx(0.05, rel=0.05)
    assert lrs[-1] < 1e-3


def test_weight_two_equals_a_duplicated_row_in_full_batch_sgd():
    X, y = _data(n=40)
    w = np.ones(len(y))
    w[[3, 17]] = 2.0
    repeat = np.where(w == 2.0, 2, 1)
    # a step that learns (at lr=0.5 the run ends above its start, which is
    # then kept)
    params = dict(batch_size=100, max_epochs=5, lr=0.2, readout_init="zeros")
    weighted = _sgd(**params).fit(X, y, sample_weight=w)
    duplicated = _sgd(**params).fit(np.repeat(X, repeat, 0), np.repeat(y, repeat))
    F_w, F_d = weighted.net_.module_.F, duplicated.net_.module_.F
    # the steps moved F (lstsq keeps the initial directions), and moved it alike
    start = _sgd(solver="lstsq").fit(X, y).net_.module_.F
    assert (F_w - start).abs().max() > 1e-3
    torch.testing.assert_close(F_w, F_d, rtol=0, atol=1e-12)
    np.testing.assert_allclose(weighted.predict(X), duplicated.predict(X), atol=1e-10)
    # and a weight is not ignored: weight 1 everywhere trains another F
    plain = _sgd(**params).fit(X, y)
    assert (plain.net_.module_.F - F_w).abs().max() > 1e-6


def test_weighted_loss():
    loss = WeightedMSELoss()
    y_pred = torch.tensor([[1.0], [2.0], [4.0]])
    y_true = torch.zeros(3, 1)
    weight = torch.tensor([2.0, 1.0, 0.0])
    assert loss(y_pred, y_true, weight).item() == pytest.approx((2 * 1 + 1 * 4) / 3)
    assert loss(y_pred, y_true).item() == pytest.approx((1 + 4 + 16) / 3)


# -- prediction --------------------------------------------------------------------


@pytest.mark.parametrize("solver", ["lstsq", "sgd"])
def test_prediction_equals_the_module_forward(solver):
    X, y = _data(n=60)
    est = _sgd(solver=solver, batch_size=7, max_epochs=2).fit(X, y)
    X_new = _data(n=47, seed=5)[0]
    X_scaled = est.scaling_.transform(X_new)
    with torch.no_grad():
        forward = est.net_.module_(torch.as_tensor(X_scaled)).numpy()
    # 47 rows in batches of 7: six full batches and a partial one, in order
    np.testing.assert_allclose(est.net_.predict(X_scaled), forward, rtol=1e-10)
    expected = est.target_scaling_.inverse_transform(forward)[:, 0]
    np.testing.assert_allclose(est.predict(X_new), expected, rtol=1e-10)


def test_user_callbacks_see_the_real_target():
    X, y = _data()
    w = np.random.default_rng(1).uniform(0.5, 2.0, size=len(y))
    scoring = EpochScoring("r2", on_train=True, name="train_r2")
    est = _sgd(callbacks=[scoring], max_epochs=2).fit(X, y, sample_weight=w)
    r2 = est.net_.history[:, "train_r2"]
    assert len(r2) == 2 and all(np.isfinite(r2))
    # the score of the last epoch's predictions against the scaled target
    assert r2[-1] > r2[0]
