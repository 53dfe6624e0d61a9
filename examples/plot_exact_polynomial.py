"""
Exact polynomials: from coefficients to a network and back
==========================================================

The construction of Fang et al. (2022) needs no training to represent a
polynomial: the frozen blocks compute the powers of the projected inputs, and
Lemma 3.3 gives the readout that turns them into any polynomial of degree at
most ``q``. :meth:`~sklearn_attnpoly.AttentionPolynomialRegressor.from_polynomial`
builds that network from a dictionary of coefficients, and
:meth:`~sklearn_attnpoly.AttentionPolynomialRegressor.to_polynomial` reads
any fitted network back as one.
"""

# %%
# A polynomial in two variables, as ``{exponents: coefficient}``:
# :math:`p(x) = x_1^3 - 3 x_1 x_2^2 + 0.5 x_2 + 2`.
import matplotlib.pyplot as plt
import numpy as np

from sklearn_attnpoly import AttentionPolynomialRegressor

p = {(3, 0): 1.0, (1, 2): -3.0, (0, 1): 0.5, (0, 0): 2.0}
est = AttentionPolynomialRegressor.from_polynomial(p, radius=2.0)
print(est.degree, est.n_directions_, "directions")

# %%
# On a grid inside the radius the network's output is the polynomial, to
# rounding.
g = np.linspace(-1.4, 1.4, 121)
G1, G2 = np.meshgrid(g, g)
X = np.column_stack([G1.ravel(), G2.ravel()])
exact = X[:, 0] ** 3 - 3 * X[:, 0] * X[:, 1] ** 2 + 0.5 * X[:, 1] + 2
network = est.predict(X)
print(f"largest |network - p| on the grid: {np.abs(network - exact).max():.1e}")

# %%
# Reading the network back gives the coefficients we started from; every
# other monomial of degree at most 3 comes back as (numerically) zero.
back = est.to_polynomial()
for exponents, value in sorted(back.items()):
    if abs(value) > 1e-9:
        print(exponents, round(value, 12))

# %%
# A fitted model reads back the same way: fit noisy samples of ``p`` and
# compare the recovered coefficients with the true ones.
rng = np.random.default_rng(0)
X_train = rng.uniform(-1.4, 1.4, size=(400, 2))
y_train = est.predict(X_train) + 0.05 * rng.standard_normal(400)
fitted = AttentionPolynomialRegressor(degree=3).fit(X_train, y_train)
recovered = fitted.to_polynomial()

labels = [str(e) for e in sorted(back)]
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4.2))
contour = ax0.contourf(G1, G2, network.reshape(G1.shape), levels=30, cmap="viridis")
fig.colorbar(contour, ax=ax0)
ax0.set_title("network built from the coefficients")
ax0.set_xlabel("$x_1$")
ax0.set_ylabel("$x_2$")
positions = np.arange(len(labels))
ax1.bar(positions - 0.2, [back[e] for e in sorted(back)], 0.4, label="true")
ax1.bar(
    positions + 0.2, [recovered[e] for e in sorted(back)], 0.4, label="fitted (noisy)"
)
ax1.set_xticks(positions, labels, rotation=60, fontsize=8)
ax1.set_title("coefficients of each monomial")
ax1.legend()
fig.tight_layout()
plt.show()
