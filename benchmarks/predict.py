"""Prediction through the module in byte-sized chunks, against skorch's path.

    python benchmarks/predict.py [--rows 100000] [--threads 1]

An lstsq fit on the paper's f2 (45000 x 10, q = 5, 2002 lattice directions,
float64), then the prediction of ``--rows`` new rows three ways, median of 5
after a warm-up:

- ``predict``: the estimator's, the module called on chunks of
  ``rows_per_chunk(module.row_bytes())`` rows, written into one array;
- ``skorch``: ``net_.predict`` on the scaled rows at the training batch size
  (256), what ``predict`` did before: a DataLoader, a conversion and a forward
  pass per batch, and a concatenation at the end;
- ``PF(5) + Ridge``: ``make_pipeline(PolynomialFeatures(5), Ridge())``'s
  predict, fitted on the same rows, as the peer.

The floor is the forward pass's arithmetic at this machine's rates, measured
in the same run: ``t = Fx`` and the readout as matrix products (``2 N n (d +
q)`` flops at the float64 GEMM rate) and the chain of blocks as ``3 N n q``
elementwise operations at the rate of an in-cache elementwise pass.
"""

import argparse

import numpy as np
import torch
from run import _timed, machine_rates  # benchmarks/run.py
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures
from threadpoolctl import threadpool_limits

from sklearn_attnpoly import AttentionPolynomialRegressor
from sklearn_attnpoly._polynomial import evaluate
from sklearn_attnpoly.paper.datasets import PAPER_F2


def median_time(call):
    return _timed(call, repeats=5)


def elementwise_rate():
    """Operations per second of the chain's step ``c - (t s + c)`` on arrays
    that stay in the cache, three operations per entry."""
    t, s, out = (torch.rand(64, 2002, dtype=torch.float64) for _ in range(3))

    def chain():
        for _ in range(100):
            torch.mul(t, s, out=out).add_(2.0)
            torch.sub(2.0, out, out=out)

    return 3 * 100 * t.numel() / median_time(chain)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with threadpool_limits(args.threads):
        rng = np.random.default_rng(0)
        X = rng.standard_normal((45000, 10))
        y = evaluate(PAPER_F2, X) + rng.standard_normal(45000)
        X_new = rng.standard_normal((args.rows, 10))
        est = AttentionPolynomialRegressor(degree=5).fit(X, y)
        peer = make_pipeline(PolynomialFeatures(5), Ridge()).fit(X, y)

        def skorch_path():
            Y = est.net_.predict(est.scaling_.transform(X_new))
            return est.target_scaling_.inverse_transform(Y)[:, 0]

        # the same numbers, but for rows beyond the guard radius (there the
        # skorch path has the network's own output; these lie inside its exact
        # radius, and differ by rounding)
        expected = skorch_path()
        tolerance = 1e-9 * np.abs(expected).max()
        np.testing.assert_allclose(est.predict(X_new), expected, atol=tolerance)
        seconds = {
            "predict": median_time(lambda: est.predict(X_new)),
            "skorch": median_time(skorch_path),
            "PF(5) + Ridge": median_time(lambda: peer.predict(X_new)),
        }
        n, d, q = est.n_directions_, 10, 5
        gemm = machine_rates(2000, repeats=5)["gemm_gflops"] * 1e9
        elementwise = elementwise_rate()
    floor = 2 * args.rows * n * (d + q) / gemm + 3 * args.rows * n * q / elementwise
    print(
        f"f2 lstsq model (n = {n}), {args.rows} rows, {args.threads} thread(s); "
        f"GEMM {gemm / 1e9:.1f} GFLOP/s, chain {elementwise / 1e9:.2f} Gop/s"
    )
    for name, value in seconds.items():
        print(f"  {name:14s} {value:7.3f} s")
    print(f"  {'floor':14s} {floor:7.3f} s")
    print(f"speed-up over skorch's path: {seconds['skorch'] / seconds['predict']:.2f}x")
    print(f"predict / floor: {seconds['predict'] / floor:.2f}")
    print(
        f"predict / PF(5) + Ridge: {seconds['predict'] / seconds['PF(5) + Ridge']:.2f}"
    )


if __name__ == "__main__":
    main()
