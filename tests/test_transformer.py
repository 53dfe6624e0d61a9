"""OneLayerTransformerRegressor: memorisation, the low-rank head, the
permutation structure of the layer, and the estimator's contract."""

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils.validation import check_is_fitted

from sklearn_attnpoly import OneLayerTransformerRegressor
from sklearn_attnpoly._one_layer import OneLayerTransformer


def test_one_layer_memorises_random_labels():
    """Kajitsuka and Sato's memorisation: 256 inputs in R^8 with labels that
    have no pattern, fitted by one rank-1 head."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(256, 8)), rng.normal(size=256)
    est = OneLayerTransformerRegressor(max_epochs=300, random_state=1).fit(X, y)
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
