"""The paper's f2 task with every solver: test MSE and fit time.

    python benchmarks/solvers_f2.py [--epochs E] [--batch-size B]

x ~ N(0, I_10), y = f2(x) + N(0, 1), a 45000 / 5000 split. Reports the test MSE
against the noisy targets (as the paper's Table 1) and against the noiseless
f2, for solver="lstsq", PolynomialFeatures(5)+LinearRegression, and the
gradient solvers "sgd" (the paper's protocol, E epochs) and "adam".
"""

import argparse
import time

import numpy as np
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures

from sklearn_attnpoly import AttentionPolynomialRegressor
from sklearn_attnpoly._polynomial import evaluate
from sklearn_attnpoly.paper.datasets import PAPER_F2


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=25000)
    parser.add_argument("--solvers", default="lstsq,pf,sgd,adam")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50000, 10))
    f2 = evaluate(PAPER_F2, X)
    y = f2 + rng.standard_normal(50000)
    train, test = slice(0, 45000), slice(45000, None)
    models = {
        "lstsq": AttentionPolynomialRegressor(degree=5),
        "pf": make_pipeline(PolynomialFeatures(5), LinearRegression()),
        "sgd": AttentionPolynomialRegressor(
            degree=5,
            solver="sgd",
            dtype="float32",
            max_epochs=args.epochs,
            batch_size=args.batch_size,
            random_state=0,
        ),
        "adam": AttentionPolynomialRegressor(
            degree=5,
            solver="adam",
            dtype="float32",
            max_epochs=args.epochs,
            batch_size=args.batch_size,
            random_state=0,
        ),
    }
    print(f"{'model':8} {'fit s':>8} {'MSE_te (noisy)':>15} {'MSE_te (f2)':>12}")
    for name in args.solvers.split(","):
        start = time.perf_counter()
        models[name].fit(X[train], y[train])
        seconds = time.perf_counter() - start
        pred = models[name].predict(X[test])
        mse_noisy = np.mean((pred - y[test]) ** 2)
        mse_f2 = np.mean((pred - f2[test]) ** 2)
        print(f"{name:8} {seconds:8.1f} {mse_noisy:15.4f} {mse_f2:12.4f}", flush=True)


if __name__ == "__main__":
    main()
