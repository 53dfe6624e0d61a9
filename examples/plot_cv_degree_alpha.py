"""
Degree and alpha by cross-validation, in one pass
=================================================

:class:`~sklearn_attnpoly.AttentionPolynomialRegressorCV` scores every pair of
``degrees`` and ``alphas`` by K-fold cross-validation from the folds' moments:
the data is read once, lower degrees are sub-blocks of the same moments, and a
whole path of alphas costs one factorisation per degree and fold. Its
``cv_results_`` has the layout of
:class:`~sklearn.model_selection.GridSearchCV`'s, so the same plots and tables
work. Here the target is a noisy cubic in five variables, fitted from few
rows, where the higher degrees need ``alpha`` to stay sensible. At the end,
GridSearchCV over the equivalent scikit-learn pipeline scores the same grid:
it chooses the same degree and alpha.
"""

import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

from sklearn_attnpoly import AttentionPolynomialRegressorCV

rng = np.random.default_rng(0)
X = rng.normal(size=(400, 5))
y = X[:, 0] ** 3 - 2 * X[:, 1] * X[:, 2] + X[:, 3] + rng.normal(scale=1.0, size=400)

degrees = (1, 2, 3, 4, 5)
alphas = np.logspace(-6, 3, 19)
folds = KFold(5, shuffle=True, random_state=0)

start = time.perf_counter()
cv = AttentionPolynomialRegressorCV(degrees=degrees, alphas=alphas, cv=folds)
cv.fit(X, y)
cv_seconds = time.perf_counter() - start
print(f"chosen: degree {cv.degree_}, alpha {cv.alpha_:.3g}, R^2 {cv.best_score_:.4f}")
n_candidates = len(degrees) * len(alphas)
print(f"the CV estimator: {cv_seconds:.2f} s for {n_candidates} candidates x 5 folds")

# %%
# The validation score of each degree along the alpha path.

results = cv.cv_results_
fig, ax = plt.subplots(figsize=(6.5, 4.2))
for q in degrees:
    rows = results["param_degree"] == q
    ax.semilogx(
        np.asarray(results["param_alpha"][rows], dtype=float),
        results["mean_test_score"][rows],
        "o-",
        ms=3,
        label=f"degree {q}",
    )
ax.axvline(cv.alpha_, color="k", ls=":", lw=1)
ax.set_ylim(0.5, 1.0)
ax.set_xlabel("alpha (Ridge's, on standardised monomials)")
ax.set_ylabel("mean validation R^2 (5 folds)")
ax.set_title(f"Chosen: degree {cv.degree_}, alpha {cv.alpha_:.2g}")
ax.legend(loc="lower left")
fig.tight_layout()
plt.show()

# %%
# The same search with scikit-learn's pipeline, which the closed form equals
# for every alpha, fitted candidate by candidate.

pipeline = make_pipeline(
    StandardScaler(), PolynomialFeatures(include_bias=False), StandardScaler(), Ridge()
)
grid = {"polynomialfeatures__degree": degrees, "ridge__alpha": alphas}
start = time.perf_counter()
search = GridSearchCV(pipeline, grid, cv=folds).fit(X, y)
grid_seconds = time.perf_counter() - start
best = search.best_params_
print(
    f"GridSearchCV: degree {best['polynomialfeatures__degree']}, "
    f"alpha {best['ridge__alpha']:.3g}, R^2 {search.best_score_:.4f} "
    f"in {grid_seconds:.2f} s"
)
scores = {
    (params["polynomialfeatures__degree"], params["ridge__alpha"]): score
    for params, score in zip(
        search.cv_results_["params"], search.cv_results_["mean_test_score"], strict=True
    )
}
differences = [
    abs(scores[params["degree"], params["alpha"]] - score)
    for params, score in zip(results["params"], results["mean_test_score"], strict=True)
]
print(f"largest difference of the mean validation scores: {max(differences):.1e}")
