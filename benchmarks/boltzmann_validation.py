"""The Boltzmann network's certified error bound against its measured error.

For 1000 random polynomials (2 to 6 variables, degree 2 to 5, coefficients
standard normal), each network is built from the polynomial twice with
``from_polynomial``, with the one-hot maximum and with softmax attention at
several ``beta``, and the two networks are compared, in the scaled units
they compute in, on points of the guard ball ``||x|| <= R``:

- 12 random points (a quarter on the sphere);
- the same and the point where ``|G_1|`` is largest, found by projected
  gradient ascent from 32 starts. ``G_1(x) = sum_ik beta_ik (-t_i)^(k-1)``
  is what the readout makes of block 1's deficit, which is the same at
  every input (``sklearn_attnpoly.attention._boltzmann``): the error is
  largest where ``|G_1|`` is.

It prints the violations (a measured error above ``error_bound`` plus the
rounding of the two networks), the quantiles of measured / bound, and the
share of polynomials whose bound is within 10 times of the measured error
where the error is far above rounding (``beta >= log n``, the exponential
regime), and writes them to ``boltzmann_validation_results.json``.

Usage::

    python benchmarks/boltzmann_validation.py [--polynomials 1000]
"""

import argparse
import json
import math
import os
import time

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import numpy as np  # noqa: E402
import torch  # noqa: E402

from sklearn_attnpoly import AttentionPolynomialRegressor  # noqa: E402
from sklearn_attnpoly._polynomial import monomial_exponents  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BETAS = (8.0, 16.0, 24.0, 40.0)


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


def largest_first_block_gain(module, rng, starts=32, steps=150):
    """The point of the ball where ``|G_1|`` is largest (projected ascent)."""
    F = module.F.detach()
    a = module.readout().detach()[..., 0]  # (n, q)
    R, q = module.radius, a.shape[1]

    def gain(x):
        t = x @ F.T
        return sum(((-t) ** k * a[:, k]).sum(-1) for k in range(q))

    x = torch.as_tensor(ball_points(rng, starts, F.shape[1], R)).requires_grad_()
    opt = torch.optim.Adam([x], lr=0.05 * R)
    for _ in range(steps):
        opt.zero_grad()
        (-gain(x).abs().sum()).backward()
        opt.step()
        with torch.no_grad():
            x *= (R / x.norm(dim=1, keepdim=True)).clamp(max=1.0)
    with torch.no_grad():
        return x.detach()[gain(x).abs().argmax()][None]


def quantiles(values):
    r = np.array(values)
    return {
        name: float(np.quantile(r, p))
        for name, p in (("p10", 0.1), ("median", 0.5), ("p90", 0.9), ("max", 1.0))
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--polynomials", type=int, default=1000)
    parser.add_argument(
        "--out", default=os.path.join(HERE, "boltzmann_validation_results.json")
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    rows = {beta: [] for beta in BETAS}
    start = time.perf_counter()
    for _ in range(args.polynomials):
        polynomial = random_polynomial(rng)
        hardmax = AttentionPolynomialRegressor.from_polynomial(polynomial)
        exact = hardmax.net_.module_
        d, n = exact.F.shape[1], exact.F.shape[0]
        random_points = torch.as_tensor(ball_points(rng, 12, d, exact.radius))
        searched = largest_first_block_gain(exact, rng)
        with torch.no_grad():
            y_random, y_searched = exact(random_points), exact(searched)
        rounding = 2 * float(exact.rounding_error()[0])
        for beta in BETAS:
            softmax = AttentionPolynomialRegressor.from_polynomial(
                polynomial, attention="boltzmann", inverse_temperature=beta
            ).net_.module_
            with torch.no_grad():
                e_random = float((softmax(random_points) - y_random).abs().max())
                e_searched = float((softmax(searched) - y_searched).abs().max())
            bound = float(softmax.error_bound()[0])
            rows[beta].append((n, bound, e_random, max(e_random, e_searched), rounding))
    results = {
        "command": "python benchmarks/boltzmann_validation.py "
        f"--polynomials {args.polynomials}",
        "machine": "development VM, 2 cores",
        "threads": 1,
        "seconds": time.perf_counter() - start,
        "betas": {},
    }
    for beta in BETAS:
        columns = zip(*rows[beta], strict=True)
        n, bound, e_random, e_all, rounding = map(np.array, columns)
        finite = np.isfinite(bound)
        regime = finite & (beta >= np.log(n)) & (e_random > 1e3 * rounding)
        row = {
            "finite_bounds": int(finite.sum()),
            "no_bound": int((~finite).sum()),
            "violations": int((finite & (e_all > bound + rounding)).sum()),
            "exponential_regime": int(regime.sum()),
        }
        for name, e in (("random_points", e_random), ("with_searched_point", e_all)):
            ratio = e[finite] / np.where(bound[finite] > 0, bound[finite], 1.0)
            row[name] = {
                "measured_over_bound": quantiles(ratio),
                "within_10x_in_regime": float((10 * e[regime] >= bound[regime]).mean())
                if regime.any()
                else math.nan,
            }
        results["betas"][str(beta)] = row
        print(f"beta={beta:g}: {json.dumps(row)}")
    print(f"{results['seconds']:.0f} s")
    with open(args.out, "w") as file:
        json.dump(results, file, indent=1)


if __name__ == "__main__":
    main()
