"""The Boltzmann network's certified error bound against its measured error.

For 1000 random polynomials (2 to 6 variables, degree 2 to 5, coefficients
standard normal), each network is built from the polynomial twice with
``from_polynomial``, with the one-hot maximum and with softmax attention at
several ``beta``; on 12 random points of the ball (a quarter on its sphere)
the largest ``|Boltzmann - hardmax|`` is compared with ``error_bound_``. It
prints the violations (a measured error above the bound; rounding of the two
networks, about 1e-13 of the output, is allowed) and quantiles of
measured / bound, and writes them to ``boltzmann_validation_results.json``.

Usage::

    python benchmarks/boltzmann_validation.py [--polynomials 1000]
"""

import argparse
import json
import os
import time
import warnings

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import numpy as np  # noqa: E402
import torch  # noqa: E402

from sklearn_attnpoly import AttentionPolynomialRegressor  # noqa: E402
from sklearn_attnpoly._polynomial import monomial_exponents  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BETAS = (8.0, 16.0, 40.0)


def random_polynomial(rng):
    d, q = int(rng.integers(2, 7)), int(rng.integers(2, 6))
    exponents = monomial_exponents(d, q)
    keep = rng.uniform(size=len(exponents)) < 0.5
    keep[-1] = True  # degree q exactly
    return {tuple(int(v) for v in e): float(rng.normal()) for e in exponents[keep]}


def ball_points(rng, n_points, d, radius):
    x = rng.normal(size=(n_points, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    r = np.where(np.arange(n_points) < n_points // 4, 1.0, rng.uniform(size=n_points))
    return x * (radius * r)[:, None]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--polynomials", type=int, default=1000)
    parser.add_argument(
        "--out", default=os.path.join(HERE, "boltzmann_validation_results.json")
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    ratios = {beta: [] for beta in BETAS}
    violations = {beta: 0 for beta in BETAS}
    infinite = {beta: 0 for beta in BETAS}
    start = time.perf_counter()
    for _ in range(args.polynomials):
        polynomial = random_polynomial(rng)
        d = len(next(iter(polynomial)))
        X = ball_points(rng, 12, d, 1.0)
        exact = AttentionPolynomialRegressor.from_polynomial(polynomial)
        y_exact = exact.predict(X)
        rounding = 1e-13 * max(np.abs(y_exact).max(), 1.0)
        for beta in BETAS:
            est = AttentionPolynomialRegressor.from_polynomial(
                polynomial, attention="boltzmann", beta=beta
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                measured = np.abs(est.predict(X) - y_exact).max()
            bound = float(est.error_bound_[0])
            if not np.isfinite(bound):
                infinite[beta] += 1
                continue
            violations[beta] += int(measured > bound + rounding)
            ratios[beta].append(measured / bound if bound > 0 else 0.0)
    results = {
        "command": "python benchmarks/boltzmann_validation.py "
        f"--polynomials {args.polynomials}",
        "threads": 1,
        "seconds": time.perf_counter() - start,
        "betas": {},
    }
    for beta in BETAS:
        r = np.array(ratios[beta])
        row = {
            "finite_bounds": len(r),
            "no_bound": infinite[beta],
            "violations": violations[beta],
            "measured_over_bound": {
                q: float(np.quantile(r, p))
                for q, p in (("p10", 0.1), ("median", 0.5), ("p90", 0.9), ("max", 1.0))
            },
        }
        results["betas"][str(beta)] = row
        print(f"beta={beta:g}: {row}")
    with open(args.out, "w") as file:
        json.dump(results, file, indent=1)


if __name__ == "__main__":
    main()
