"""
One layer of low-rank softmax attention memorises
=================================================

Kajitsuka and Sato (2023) prove that one layer of single-head self-attention
whose weights have rank 1, between token-wise feed-forward networks, can
memorise any finite sample. :class:`~sklearn_attnpoly.OneLayerTransformerRegressor`
is that model: here it fits random labels (no pattern to learn) of ``N``
random inputs in ``R^8``, against scikit-learn's
:class:`~sklearn.neural_network.MLPRegressor` with about as many parameters,
trained with the same budget of full-batch Adam epochs. Both memorise these
sizes; the point is that one rank-1 attention head between token-wise
networks, the structure of the theorem, is enough.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor

from sklearn_attnpoly import OneLayerTransformerRegressor

sizes = [32, 64, 128, 256]
transformer_r2, mlp_r2 = [], []
for n_samples in sizes:
    rng = np.random.default_rng(n_samples)
    X, y = rng.normal(size=(n_samples, 8)), rng.normal(size=n_samples)
    # full batches and no rows held out: memorising, not generalising
    est = OneLayerTransformerRegressor(
        max_epochs=300, batch_size=None, early_stopping=False, random_state=0
    ).fit(X, y)
    n_parameters = sum(p.numel() for p in est.net_.module_.parameters())
    # one hidden layer with about as many parameters: 8 h + h + h + 1
    hidden = (n_parameters - 1) // 10
    mlp = MLPRegressor(
        hidden_layer_sizes=(hidden,), learning_rate_init=2e-2, max_iter=300,
        batch_size=n_samples, random_state=0,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(X, y)
    transformer_r2.append(est.score(X, y))
    mlp_r2.append(mlp.score(X, y))
    print(
        f"N = {n_samples:3d}: transformer R^2 {transformer_r2[-1]:.4f} "
        f"({n_parameters} parameters), MLP 8-{hidden}-1 R^2 {mlp_r2[-1]:.4f}"
    )

fig, ax = plt.subplots(figsize=(6.5, 4.2))
ax.plot(sizes, transformer_r2, "o-", label="one-layer transformer, rank 1")
ax.plot(sizes, mlp_r2, "s--", label="MLP with as many parameters")
ax.set_xscale("log", base=2)
ax.set_xticks(sizes, [str(n) for n in sizes])
ax.set_xlabel("N random labels to memorise (inputs in R^8)")
ax.set_ylabel("training R^2 after 300 full-batch epochs")
ax.set_ylim(0, 1.02)
ax.set_title("Memorising random labels")
ax.legend(loc="lower left")
fig.tight_layout()
plt.show()
