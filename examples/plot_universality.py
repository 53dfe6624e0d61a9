"""
Universality as the degree grows
================================

Corollary 3.7 of Fang et al. (2022): with ``q`` blocks the network represents
every polynomial of degree at most ``q``, so, as ``q`` grows, it approximates
any continuous function on a compact set (polynomials are dense there). Here
the target is not a polynomial, :math:`f(x) = \\sin(3\\, \\xi \\cdot x) +
\\exp(x_1 x_2)` on the unit square, and the test error of the closed-form
fit falls as the degree rises, until the noise is all that is left.
"""

import matplotlib.pyplot as plt
import numpy as np

from sklearn_attnpoly import AttentionPolynomialRegressor

rng = np.random.default_rng(0)
xi = np.array([0.6, 0.8])


def target(X):
    return np.sin(3 * X @ xi) + np.exp(X[:, 0] * X[:, 1])


X_train = rng.uniform(0, 1, size=(3000, 2))
X_test = rng.uniform(0, 1, size=(2000, 2))
noise = 1e-3
y_train = target(X_train) + noise * rng.standard_normal(len(X_train))

degrees = range(1, 13)
errors = []
for q in degrees:
    est = AttentionPolynomialRegressor(degree=q).fit(X_train, y_train)
    errors.append(np.mean((est.predict(X_test) - target(X_test)) ** 2))
    print(f"q = {q:2d}: {est.n_directions_:3d} directions, test MSE {errors[-1]:.2e}")

fig, ax = plt.subplots(figsize=(6.5, 4.2))
ax.semilogy(list(degrees), errors, "o-", label="test MSE against f")
ax.axhline(noise**2, color="k", ls="--", lw=1, label="variance of the training noise")
ax.set_xlabel("degree q (number of frozen blocks)")
ax.set_ylabel("test MSE (log scale)")
ax.set_title("A smooth non-polynomial target, approximated as q grows")
ax.legend()
fig.tight_layout()
plt.show()
