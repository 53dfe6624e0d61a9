"""Command line: ``python -m sklearn_attnpoly demo``."""

import argparse
import sys
import time

import numpy as np

from ._polynomial import evaluate
from ._regressor import AttentionPolynomialRegressor

#: The paper's f2 (section 5): x1^5 + 3 x2^4 + 2 x3^3 + 5 x3 x4 + 3 x5^2 + 2 x6 x7 x8 + 2 x9.
PAPER_F2 = {
    (5, 0, 0, 0, 0, 0, 0, 0, 0, 0): 1.0,
    (0, 4, 0, 0, 0, 0, 0, 0, 0, 0): 3.0,
    (0, 0, 3, 0, 0, 0, 0, 0, 0, 0): 2.0,
    (0, 0, 1, 1, 0, 0, 0, 0, 0, 0): 5.0,
    (0, 0, 0, 0, 2, 0, 0, 0, 0, 0): 3.0,
    (0, 0, 0, 0, 0, 1, 1, 1, 0, 0): 2.0,
    (0, 0, 0, 0, 0, 0, 0, 0, 1, 0): 2.0,
}


def demo(n_points=2000, radius=5.0, seed=0, out=sys.stdout):
    """Build the exact network of f2 and measure its error on random points."""
    start = time.perf_counter()
    est = AttentionPolynomialRegressor.from_polynomial(PAPER_F2, radius=radius)
    built = time.perf_counter() - start
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_points, 10))
    X *= radius * rng.uniform(size=(n_points, 1)) ** 0.1 / np.linalg.norm(X, axis=1, keepdims=True)
    y_true = evaluate(PAPER_F2, X)
    y_pred = est.predict(X)
    module = est.net_.module_
    error = np.abs(y_pred - y_true)
    print("Exact network for the paper's f2 (d = 10, q = 5), built from its coefficients",
          file=out)  # fmt: skip
    print(f"  directions n = {est.n_directions_}, blocks q = {est.degree}, "
          f"free parameters {module.count_free_parameters()}, built in {built:.1f} s",
          file=out)  # fmt: skip
    print(f"  {n_points} random points with ||x|| <= {radius:g}:", file=out)
    print(f"  max |C(x) - f2(x)| = {error.max():.3e}   "
          f"relative to max |f2| = {error.max() / np.abs(y_true).max():.3e}", file=out)  # fmt: skip
    return error.max() / np.abs(y_true).max()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="sklearn-attnpoly", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="build the exact network of the paper's f2 and check it")
    args = parser.parse_args(argv)
    if args.command == "demo":
        demo()
    return 0


if __name__ == "__main__":
    sys.exit(main())
