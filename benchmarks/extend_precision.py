"""Predictions beyond the guard radius: measured error against the estimate.

    python benchmarks/extend_precision.py

For degrees 1-6 in float64 and float32: an lstsq fit of a random polynomial
of 3 variables with noise (300 rows of N(0, I)), then predictions of 200 new
rows at 1, 10, 1000 and 10^6 times the training scale. Each column is
relative to the largest |prediction|:

- ``extend``: ``out_of_bound="extend"`` (the default) against the fitted
  polynomial, the network's ``beta``, ``F`` and ``b`` evaluated in long double;
- ``estimate``: the package's own estimate for those rows
  (``AttentionPolynomialNetwork.rounding_error``), which the measured error
  must not exceed;
- ``rebuilt``: the same rows through blocks rebuilt for a guard radius
  ``2^j`` times larger (the other way to extend, with ``M_k`` grown for the
  row), against the same reference;
- ``warn``: the network's own output (``out_of_bound="warn"``).
"""

import math
import warnings

import numpy as np
import torch

from sklearn_attnpoly import AttentionPolynomialNetwork, AttentionPolynomialRegressor
from sklearn_attnpoly._polynomial import monomial_exponents

LONG = np.longdouble


def reference(module, x):
    """``sum_ik beta_ik (-t_i)^k + b`` in long double, at scaled rows x."""
    F = module.F.detach().double().numpy().astype(LONG)
    beta = (module.beta * module.mask[..., None]).detach().double().numpy()
    t = x.astype(LONG) @ F.T
    y = np.zeros((len(t), beta.shape[2]), dtype=LONG) + module.b.detach().numpy()
    for k in range(1, beta.shape[1] + 1):
        y += (-t) ** k @ beta[:, k - 1].astype(LONG)
    return y[:, 0].astype(float)


def rebuilt(module, radius):
    """The network with the same parameters and blocks built for ``radius``."""
    other = AttentionPolynomialNetwork(
        module.F.detach(), module.degree, radius, mask=module.mask, dtype=module.F.dtype
    )
    other.load_state_dict(
        {k: v for k, v in module.state_dict().items() if not k.startswith("blocks")},
        strict=False,
    )
    return other


def main():
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    print("| dtype | degree | scale | extend | estimate | rebuilt | warn |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for dtype in ("float64", "float32"):
        for degree in range(1, 7):
            X = rng.normal(size=(300, 3))
            exponents = monomial_exponents(3, degree)
            design = np.prod(X[:, None, :] ** exponents[None], axis=2)
            y = design @ rng.normal(size=len(exponents)) + 0.1 * rng.normal(size=300)
            est = AttentionPolynomialRegressor(degree=degree, dtype=dtype).fit(X, y)
            module, scale = est.net_.module_, est.target_scaling_.scale[0]
            for factor in (1.0, 10.0, 1e3, 1e6):
                X_new = rng.normal(size=(200, 3)) * factor
                x = est.scaling_.transform(X_new)
                norm = np.linalg.norm(x, axis=1).max()
                j = max(0, math.ceil(math.log2(norm / est.guard_radius_)))
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    pred = est.predict(X_new)
                    raw = est.set_params(out_of_bound="warn").predict(X_new)
                    est.set_params(out_of_bound="extend")
                want = reference(module, x) * scale + est.target_scaling_.mean[0]
                largest = np.abs(want).max()
                with torch.no_grad():
                    wide = rebuilt(module, est.guard_radius_ * 2**j)
                    x_t = torch.as_tensor(x, dtype=module.F.dtype)
                    other = wide(x_t)[:, 0].double().numpy() * scale
                other += est.target_scaling_.mean[0]
                columns = [
                    np.abs(pred - want).max(),
                    float(module.rounding_error(j)[0]) * scale,
                    np.abs(other - want).max(),
                    np.abs(raw - want).max(),
                ]
                cells = " | ".join(f"{c / largest:.1e}" for c in columns)
                print(f"| {dtype} | {degree} | {factor:g} | {cells} |")


if __name__ == "__main__":
    main()
