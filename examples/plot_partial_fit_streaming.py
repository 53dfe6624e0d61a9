"""
Streaming rows with ``partial_fit``
===================================

The closed-form fit needs only the data's moments of degree at most ``2q``,
and moments add up over rows. So
:meth:`~sklearn_attnpoly.AttentionPolynomialRegressor.partial_fit` keeps a
running sum of them, one batch at a time, and the model it gives after any
number of batches is ``fit`` on all the rows seen so far, without ever
holding them together. Here batches of the paper's f2 arrive one by one, as
they would from disk or a queue; the test error falls as rows accumulate, and
at the end the streamed model's coefficients equal those of one ``fit`` on
the concatenated rows.
"""

import matplotlib.pyplot as plt
import numpy as np

from sklearn_attnpoly import AttentionPolynomialRegressor
from sklearn_attnpoly.paper.datasets import make_paper_f2, paper_f2

X_test, _ = make_paper_f2(n_samples=2000, random_state=1)
f_test = paper_f2(X_test)

stream = AttentionPolynomialRegressor(degree=5)
seen, errors, batches = [], [], []
for batch in range(12):
    X, y = make_paper_f2(n_samples=2500, random_state=100 + batch)
    batches.append((X, y))
    stream.partial_fit(X, y)
    seen.append(2500 * (batch + 1))
    errors.append(np.mean((stream.predict(X_test) - f_test) ** 2))
    print(f"{seen[-1]:6d} rows: test MSE against f2* {errors[-1]:.4f}")

# %%
# The streamed model is the batch model: the same polynomial, to rounding.

X_all = np.vstack([X for X, _ in batches])
y_all = np.concatenate([y for _, y in batches])
whole = AttentionPolynomialRegressor(degree=5).fit(X_all, y_all)
streamed, fitted = stream.to_polynomial(), whole.to_polynomial()
largest = max(abs(streamed[e] - fitted[e]) for e in fitted)
print(f"largest coefficient difference, streamed vs fit: {largest:.1e}")

fig, ax = plt.subplots(figsize=(6.5, 4.2))
ax.loglog(seen, errors, "o-", label="partial_fit, after each batch")
ax.loglog(
    seen[-1],
    np.mean((whole.predict(X_test) - f_test) ** 2),
    "k*",
    ms=12,
    label="fit on all rows at once",
)
ax.set_xlabel("rows seen")
ax.set_ylabel("test MSE against the noiseless f2*")
ax.set_title("Degree 5 on the paper's f2, one batch at a time")
ax.legend()
fig.tight_layout()
plt.show()
