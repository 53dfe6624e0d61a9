"""OneLayerTransformerRegressor: memorisation, the low-rank head, the
permutation structure of the layer, and the estimator's contract."""

import numpy as np
import pytest
import torch
from sklearn.datasets import make_friedman1
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.metrics import r2_score
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import Callback
from skorch.utils import data_from_dataset

from sklearn_attnpoly import OneLayerTransformerRegressor
from sklearn_attnpoly._one_layer import OneLayerTransformer


@pytest.mark.slow
def test_one_layer_memorises_random_labels():
    """Kajitsuka and Sato's memorisation: 256 inputs in R^8 with labels that
    have no pattern, fitted by one rank-1 head."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(256, 8)), rng.normal(size=256)
    est = OneLayerTransformerRegressor(
        max_epochs=300, batch_size=None, early_stopping=False, random_state=1
    ).fit(X, y)
    assert est.score(X, y) >= 0.99
    assert est.n_iter_ == len(est.loss_curve_) == 300


@pytest.mark.parametrize("rank", [1, 2])
def test_the_head_has_the_rank_asked_for(rank):
    est = OneLayerTransformerRegressor(rank, max_epochs=2, random_state=0)
    est.fit(np.random.default_rng(0).normal(size=(20, 3)), np.arange(20.0))
    module = est.net_.module_
    Q, K, V, O = (
        layer.weight.detach().double()
        for layer in (module.W_Q, module.W_K, module.W_V, module.W_O)
    )
    for product in (Q.T @ K, V.T @ O.T):  # W_Q W_K^T and W_V W_O, (D, D)
        assert torch.linalg.matrix_rank(product) == rank


def test_the_layer_is_permutation_equivariant_in_its_tokens():
    """Permuting the features together with their position embeddings
    permutes the tokens; the attention layer and the token-wise networks
    commute with it, so the pooled output is unchanged."""
    torch.manual_seed(0)
    module = OneLayerTransformer(5, 2, d_model=6, hidden_size=7, rank=1).double()
    x = torch.randn(4, 5, dtype=torch.float64)
    order = torch.tensor([3, 0, 4, 1, 2])
    permuted = OneLayerTransformer(5, 2, d_model=6, hidden_size=7, rank=1).double()
    permuted.load_state_dict(module.state_dict())
    with torch.no_grad():
        permuted.position.copy_(module.position[order])
        weights = module.attention(module.position[None] + x[..., None] * module.value)
        weights_permuted = permuted.attention(
            permuted.position[None] + x[:, order, None] * permuted.value
        )
        torch.testing.assert_close(
            weights_permuted, weights[:, order][:, :, order], rtol=1e-12, atol=1e-12
        )
        torch.testing.assert_close(
            permuted(x[:, order]), module(x), rtol=1e-12, atol=1e-12
        )


def test_seeded_fits_are_equal_and_weights_are_repeated_rows():
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(40, 3)), rng.normal(size=40)
    kwargs = dict(max_epochs=20, random_state=0)
    a = OneLayerTransformerRegressor(**kwargs).fit(X, y)
    b = OneLayerTransformerRegressor(**kwargs).fit(X, y)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    Y = np.column_stack([y, 2 * y])
    assert OneLayerTransformerRegressor(**kwargs).fit(X, Y).predict(X).shape == (40, 2)


def test_a_failed_fit_leaves_it_unfitted_and_a_diverging_one_warns():
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(30, 3)), rng.normal(size=30)
    est = OneLayerTransformerRegressor(solver="sgd", lr=1e30, max_epochs=5)
    with pytest.raises(FloatingPointError, match="The model was not fitted"):
        est.fit(X, y)
    with pytest.raises(NotFittedError):
        check_is_fitted(est)
    with pytest.warns(ConvergenceWarning, match="the run diverged"):
        OneLayerTransformerRegressor(lr=2.0, max_epochs=30, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        est.fit(np.where(X > 1, np.nan, X), y)


class _HeldOutScore(Callback):
    """Scores the returned network on the held-out rows when training ends
    (after early stopping has restored the best epoch)."""

    def on_train_end(self, net, X=None, y=None, **kwargs):
        _, held_out = net.get_split_datasets(X, y)
        X_held_out, y_held_out = data_from_dataset(held_out)
        self.rows_ = held_out.indices
        self.score_ = r2_score(
            y_held_out,
            net.predict(held_out),
            sample_weight=X_held_out["sample_weight"],
        )


def test_early_stopping_stops_when_validation_stalls_and_restores_the_best():
    """Labels with no pattern: the held-out score stops rising while the
    training rows are memorised. The run stops n_iter_no_change epochs after
    its best one, and the returned network scores exactly the best recorded
    score on the held-out rows."""
    rng = np.random.default_rng(4)
    X, y = rng.normal(size=(120, 3)), rng.normal(size=120)
    w = rng.uniform(0.5, 2.0, size=120)
    est = OneLayerTransformerRegressor(
        early_stopping=True,
        validation_fraction=0.25,
        n_iter_no_change=3,
        tol=0.0,
        max_epochs=200,
        callbacks=[_HeldOutScore()],
        random_state=0,
    ).fit(X, y, sample_weight=w)
    score = dict(est.net_.callbacks_)["user_0__HeldOutScore"]
    assert est.do_early_stopping_
    assert est.n_iter_ < 200
    assert est.n_iter_ == len(est.validation_scores_) == len(est.loss_curve_)
    assert est.best_epoch_ == est.n_iter_ - 3
    assert est.best_validation_score_ == max(est.validation_scores_)
    assert est.validation_scores_[-1] < est.best_validation_score_  # not the last
    assert est.best_validation_score_ == est.validation_scores_[est.best_epoch_ - 1]
    assert score.score_ == est.best_validation_score_
    rows = score.rows_  # the same score from the estimator, on the original scale
    assert len(rows) == 30
    assert r2_score(
        y[rows], est.predict(X[rows]), sample_weight=w[rows]
    ) == pytest.approx(est.best_validation_score_, rel=1e-10)


def test_early_stopping_with_several_targets_scores_their_mean_r2():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(80, 3))
    Y = np.column_stack([X[:, 0], X[:, 1] ** 2])
    est = OneLayerTransformerRegressor(
        early_stopping=True, max_epochs=4, callbacks=[_HeldOutScore()], random_state=0
    ).fit(X, Y)
    score = dict(est.net_.callbacks_)["user_0__HeldOutScore"]
    assert est.n_iter_ == len(est.validation_scores_) == 4
    rows = score.rows_
    assert est.validation_scores_[est.best_epoch_ - 1] == pytest.approx(
        r2_score(Y[rows], est.predict(X[rows])), rel=1e-10
    )


def test_without_early_stopping_all_max_epochs_run():
    rng = np.random.default_rng(6)
    X, y = rng.normal(size=(50, 3)), rng.normal(size=50)
    for early_stopping in (False, "auto"):  # "auto": off, 5 rows held out
        est = OneLayerTransformerRegressor(
            early_stopping=early_stopping, max_epochs=7, random_state=0
        ).fit(X, y)
        assert not est.do_early_stopping_
        assert est.n_iter_ == len(est.loss_curve_) == 7
        assert est.validation_scores_ is None
        assert est.best_validation_score_ is None


def test_auto_holds_out_20_rows_or_more_and_takes_10_batches_or_200_rows():
    rng = np.random.default_rng(7)
    X, y = rng.normal(size=(2300, 2)), rng.normal(size=2300)
    est = OneLayerTransformerRegressor(
        d_model=2, hidden_size=2, max_epochs=1, random_state=0
    )
    # 191 rows: ceil(19.1) = 20 held out; batches of a tenth of the rest
    for rows, early_stopping, batch in ((190, False, 190), (191, True, 18)):
        est.fit(X[:rows], y[:rows])
        assert est.do_early_stopping_ == early_stopping
        assert est.net_.batch_size == batch
    est.fit(X, y)
    assert est.net_.batch_size == 200 and len(est.validation_scores_) == 1
    est.set_params(validation_fraction=0.5).fit(X[:40], y[:40])
    assert est.do_early_stopping_
    est.set_params(early_stopping=False)
    for batch_size, rows in (("auto", 200), (None, 300), (32, 32)):
        est.set_params(batch_size=batch_size).fit(X[:300], y[:300])
        assert est.net_.batch_size == rows


@pytest.mark.parametrize("fraction", [0.0, 1.0, 1.5, -0.1])
def test_validation_fraction_out_of_range_is_refused(fraction):
    est = OneLayerTransformerRegressor(
        early_stopping=True, validation_fraction=fraction
    )
    with pytest.raises(
        ValueError,
        match=r"The 'validation_fraction' parameter of "
        r"OneLayerTransformerRegressor must be a float in the range \(0.0, 1.0\)",
    ):
        est.fit(np.zeros((20, 2)), np.arange(20.0))


def test_too_few_held_out_rows_are_refused_and_leave_it_unfitted():
    est = OneLayerTransformerRegressor(early_stopping=True, validation_fraction=0.01)
    with pytest.raises(
        ValueError,
        match=r"validation_fraction=0.01 holds out 1 of the 50 rows of positive "
        r"weight; early stopping needs at least 2 held out",
    ):
        est.fit(np.arange(100.0).reshape(50, 2), np.arange(50.0))
    with pytest.raises(NotFittedError):
        check_is_fitted(est)


@pytest.mark.parametrize("early_stopping", [True, False])
def test_verbose_prints_one_line_per_epoch(early_stopping, capsys):
    rng = np.random.default_rng(8)
    X, y = rng.normal(size=(60, 3)), rng.normal(size=60)
    est = OneLayerTransformerRegressor(
        early_stopping=early_stopping,
        n_iter_no_change=2,
        max_epochs=30,
        verbose=1,
        random_state=0,
    ).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    epochs = [int(line.split()[0]) for line in lines if line.split()[0].isdigit()]
    assert epochs == list(range(1, est.n_iter_ + 1))
    assert ("valid_r2" in lines[0]) == early_stopping
    if early_stopping:
        assert est.n_iter_ < 30  # its last epoch, which stopped it, is printed too


@pytest.mark.slow
def test_defaults_stop_early_at_the_accuracy_of_an_mlp():
    """5000 rows of Friedman #1 (noise of variance 1, so R^2 at most about
    0.96): the defaults hold out 500 rows, train in batches of 200 and stop
    within tens of epochs at about the test R^2 of an MLP."""
    X, y = make_friedman1(n_samples=7000, noise=1.0, random_state=0)
    est = OneLayerTransformerRegressor(random_state=0).fit(X[:5000], y[:5000])
    assert est.do_early_stopping_ and est.net_.batch_size == 200
    assert est.n_iter_ < 100
    assert est.best_validation_score_ > 0.93
    assert est.score(X[5000:], y[5000:]) > 0.93
