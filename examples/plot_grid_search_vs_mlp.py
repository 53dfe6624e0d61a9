"""
Choosing the degree by cross-validation, next to an MLP
=======================================================

:class:`~sklearn_attnpoly.AttentionPolynomialRegressor` is an ordinary
scikit-learn regressor: it goes into a :class:`~sklearn.pipeline.Pipeline`
and :class:`~sklearn.model_selection.GridSearchCV` searches its ``degree``
like any other parameter. Here both are compared with
:class:`~sklearn.neural_network.MLPRegressor` on the Friedman #1 benchmark
(five informative features, five of noise).
"""

import matplotlib.pyplot as plt
from sklearn.datasets import make_friedman1
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_attnpoly import AttentionPolynomialRegressor

X, y = make_friedman1(n_samples=1500, noise=0.5, random_state=0)
cv = KFold(5, shuffle=True, random_state=0)

search = GridSearchCV(
    make_pipeline(StandardScaler(), AttentionPolynomialRegressor(alpha=1e-3)),
    {"attentionpolynomialregressor__degree": [1, 2, 3, 4, 5]},
    cv=cv,
).fit(X, y)
degrees = search.cv_results_["param_attentionpolynomialregressor__degree"]
scores = search.cv_results_["mean_test_score"]
print("best degree:", search.best_params_, f"R^2 {search.best_score_:.3f}")

mlp = make_pipeline(
    StandardScaler(),
    MLPRegressor(
        hidden_layer_sizes=(64, 64), max_iter=800, early_stopping=True, random_state=0
    ),
)
mlp_scores = cross_val_score(mlp, X, y, cv=cv)
print(f"MLPRegressor((64, 64)): R^2 {mlp_scores.mean():.3f}")

fig, ax = plt.subplots(figsize=(6.5, 4.2))
ax.plot(list(degrees), scores, "o-", label="attention model, 5-fold CV")
ax.axhline(mlp_scores.mean(), color="tab:red", ls="--", label="MLPRegressor((64, 64))")
ax.set_xticks(list(degrees))
ax.set_xlabel("degree q")
ax.set_ylabel("mean R² over the folds")
ax.set_ylim(min(0.5, scores.min()), 1.0)
ax.set_title("Friedman #1: the degree chosen by GridSearchCV")
ax.legend()
fig.tight_layout()
plt.show()
