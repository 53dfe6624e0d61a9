"""
Softmax attention: the Boltzmann block's error against beta
===========================================================

With ``attention="boltzmann"`` the frozen blocks use softmax in place of
Lemma 3.1's one-hot maximum, read as the Boltzmann operator
``a . softmax(b a)`` (Kajitsuka and Sato, 2023). The network is then the
polynomial only up to the operator's deficit, which falls like ``e^-beta``;
``error_bound_`` certifies it from the blocks' gaps and the readout. Here a
polynomial of degree 4 in 3 variables is built as a network at several
``beta``; the measured largest error on points of the ball and the certified
bound are plotted on a log scale. The same plot for the paper's f2 (2002
tokens, a minute and a half to compute) is in the theory page, made by
``python benchmarks/boltzmann_f2.py``. At ``beta = 40`` the measured error is
the two networks' rounding (about 1e-13), which the bound, a bound in exact
arithmetic, does not count.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np

from sklearn_attnpoly import AttentionPolynomialRegressor

rng = np.random.default_rng(0)
polynomial = {
    (4, 0, 0): 1.0,
    (1, 2, 1): -2.0,
    (0, 3, 0): 0.5,
    (1, 1, 0): 3.0,
    (0, 0, 2): -1.0,
    (0, 0, 0): 0.25,
}
# points of the guard ball, where the bound holds: ``headroom`` times the
# ``bound`` the network was built for (2 x 1 here)
hardmax = AttentionPolynomialRegressor.from_polynomial(polynomial)
radius = hardmax.headroom * hardmax.bound
X = rng.normal(size=(500, 3))
X *= radius * rng.uniform(size=(500, 1)) / np.linalg.norm(X, axis=1, keepdims=True)
exact = hardmax.predict(X)

betas = [6, 8, 10, 12, 16, 20, 24, 28, 32, 40]
measured, bounds = [], []
for beta in betas:
    est = AttentionPolynomialRegressor.from_polynomial(
        polynomial, attention="boltzmann", inverse_temperature=beta
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the loose betas warn, as they should
        measured.append(np.abs(est.predict(X) - exact).max())
    bounds.append(est.error_bound_)
    print(f"beta {beta:3d}: measured {measured[-1]:.2e}, bound {bounds[-1]:.2e}")

fig, ax = plt.subplots(figsize=(6.5, 4.2))
ax.semilogy(betas, bounds, "s--", label="certified bound (error_bound_)")
ax.semilogy(betas, measured, "o-", label="measured, 500 points of the guard ball")
ax.set_xlabel("beta (inverse temperature, in units of each block's gap)")
ax.set_ylabel("largest |Boltzmann network - polynomial|")
ax.set_title("Softmax attention approaches the exact network like e^-beta")
ax.legend()
fig.tight_layout()
plt.show()
