"""
Self-tuned learned directions against the usual tools
=====================================================

``AttentionPolynomialRegressor(degree=q, solver="varpro")`` with nothing else
set chooses its own number of directions, on held-out rows, and the ridge of
its readout, by leave-one-out. Here it meets the models a user would pick
instead, on two problems:

- scikit-learn's diabetes data (442 patients, 10 features, a noisy target);
- the borehole function, a smooth 8-input simulator from the
  computer-experiments literature (water flow through a borehole), with 1000
  noiseless runs to train on and 5000 to test.

On the noisy data every model is close (the target is mostly noise, and the
polynomial models choose few directions, or a low degree, and a strong
ridge); on the smooth simulator the polynomial models are orders of
magnitude ahead of gradient boosting and the MLP, and the self-tuned
degree-4 varpro approaches the Gaussian process, whose fit is O(n^3) in the
rows. Where the target has thresholds or saturation, as tabular data often
do, gradient boosting is the tool to use, not a polynomial.
"""

import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import load_diabetes
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_attnpoly import (
    AttentionPolynomialRegressor,
    AttentionPolynomialRegressorCV,
)

# %%
# The two problems
# ----------------
# The borehole's inputs are drawn uniformly on their standard ranges.

RANGES = np.array(
    [
        (0.05, 0.15),  # rw, radius of the borehole (m)
        (100, 50000),  # r, radius of influence (m)
        (63070, 115600),  # Tu, transmissivity of the upper aquifer (m^2/yr)
        (990, 1110),  # Hu, potentiometric head of the upper aquifer (m)
        (63.1, 116),  # Tl, transmissivity of the lower aquifer (m^2/yr)
        (700, 820),  # Hl, potentiometric head of the lower aquifer (m)
        (1120, 1680),  # L, length of the borehole (m)
        (9855, 12045),  # Kw, hydraulic conductivity of the borehole (m/yr)
    ]
)


def borehole(X):
    rw, r, Tu, Hu, Tl, Hl, L, Kw = X.T
    log_ratio = np.log(r / rw)
    return (
        2 * np.pi * Tu * (Hu - Hl)
        / (log_ratio * (1 + 2 * L * Tu / (log_ratio * rw**2 * Kw) + Tu / Tl))
    )  # fmt: skip


rng = np.random.default_rng(0)
X_runs = RANGES[:, 0] + (RANGES[:, 1] - RANGES[:, 0]) * rng.uniform(size=(6000, 8))
X, y = load_diabetes(return_X_y=True)
problems = {
    "diabetes": train_test_split(X, y, test_size=0.25, random_state=0),
    "borehole": (X_runs[:1000], X_runs[1000:], borehole(X_runs[:1000]),
                 borehole(X_runs[1000:])),
}  # fmt: skip

# %%
# The models
# ----------
# The attention models with nothing tuned by hand; the others as a user
# would set them up.


def models(n_features):
    kernel = ConstantKernel() * RBF(np.ones(n_features)) + WhiteKernel(
        1e-2, (1e-10, 1e1)
    )
    return {
        "varpro, degree 3": AttentionPolynomialRegressor(
            degree=3, solver="varpro", random_state=0
        ),
        "varpro, degree 4": AttentionPolynomialRegressor(
            degree=4, solver="varpro", random_state=0
        ),
        "closed form, degree by CV": AttentionPolynomialRegressorCV(
            degrees=(1, 2, 3, 4)
        ),
        "gradient boosting": HistGradientBoostingRegressor(random_state=0),
        "MLP, early stopping": TransformedTargetRegressor(
            make_pipeline(
                StandardScaler(),
                MLPRegressor(early_stopping=True, max_iter=500, random_state=0),
            ),
            transformer=StandardScaler(),
        ),
        "Gaussian process": make_pipeline(
            StandardScaler(),
            GaussianProcessRegressor(kernel=kernel, normalize_y=True, random_state=0),
        ),
    }


results = {}
for problem, (X_train, X_test, y_train, y_test) in problems.items():
    for name, est in models(X_train.shape[1]).items():
        start = time.perf_counter()
        est.fit(X_train, y_train)
        seconds = time.perf_counter() - start
        error = 1 - r2_score(y_test, est.predict(X_test))
        results[problem, name] = error
        chosen = ""
        if hasattr(est, "n_directions_") and est.solver == "varpro":
            chosen = f" ({est.n_directions_} directions, alpha {est.alpha_:.2g})"
        print(
            f"{problem:9s} {name:27s} 1 - R^2 = {error:.3g} in {seconds:.1f} s{chosen}"
        )

# %%
# Test error
# ----------
# ``1 - R^2`` on the held-out rows, lower is better: on the noisy data on a
# linear scale from 0, on the simulator on a log scale.

names = list(models(1))
fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), sharey=True)
for ax, problem in zip(axes, problems, strict=True):
    errors = [results[problem, name] for name in names]
    ax.barh(names, errors, color="tab:blue")
    for i, error in enumerate(errors):
        ax.annotate(f" {error:.2g}", (error, i), va="center", fontsize=8)
    if problem == "borehole":
        ax.set_xscale("log")
        ax.set_xlim(right=1.0)
    else:
        ax.set_xlim(0, 1.15)
    ax.set_title(problem)
    ax.set_xlabel("test 1 - R^2")
axes[0].invert_yaxis()
fig.tight_layout()
plt.show()
