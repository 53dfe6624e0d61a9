"""Learned directions (``solver="varpro"``) against their peers.

Three sections, each model fitted in its own process (one thread: torch,
BLAS) so that its peak memory is its own:

- ``f2``: the paper's f2 (45000 training rows of 50000, 10 features, degree 5),
  ``n`` learned directions for ``n`` in 12, 16, 24, 32, three seeds each, against
  ``PolynomialFeatures(5)`` + ``LinearRegression`` and the lattice closed form
  (2002 directions). Error: test MSE against the noiseless f2*.
- ``highd``: 100 features, degree 4, 20000 training rows: a sum of 10 powers of
  projections and 5 sparse monomials, noise for a best R^2 of 0.997; varpro
  with 48 directions against ``PolynomialCountSketch(degree=4)`` + ridge (as
  many features as varpro has parameters, alpha chosen on a held-out tenth)
  and ``MLPRegressor``. ``PolynomialFeatures(4)`` would have 4.6 million
  columns; the lattice closed form is refused by the estimator's size check
  (its message is printed).
- ``datasets``: five scikit-learn datasets, 5-fold cross-validated R^2 of
  varpro, the lattice closed form and the standardised ``PolynomialFeatures``
  + ``RidgeCV`` pipeline, at the same degree.

Usage::

    python benchmarks/learned_directions.py [--sections f2,highd,datasets]
        [--out benchmarks/learned_directions_results.json]
"""

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


# -- data ------------------------------------------------------------------------


def f2_split(seed):
    from sklearn.model_selection import train_test_split

    from sklearn_attnpoly.paper.datasets import make_paper_f2, paper_f2

    X, y = make_paper_f2(random_state=seed)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.1, random_state=seed)
    return X_tr, y_tr, X_te, paper_f2(X_te)


#: the high-dimensional target: powers of 10 random projections, and 5 sparse
#: monomials (feature indices), each term standardised to unit variance
RIDGE_DEGREES = (1, 2, 3, 4, 1, 2, 3, 4, 2, 3)
MONOMIALS = ((3, 17), (5, 42, 77), (8, 21, 33, 60), (11, 11, 90), (25, 25, 50, 50))


def _gaussian_moment(k):
    """``E z^k`` for a standard normal ``z``."""
    return 0.0 if k % 2 else float(math.prod(range(k - 1, 0, -2)))


def highd_split(seed, n_train=20000, n_test=5000, d=100, best_r2=0.997):
    rng = np.random.default_rng(seed)
    directions = rng.standard_normal((len(RIDGE_DEGREES), d))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)

    def f(X):
        out = np.zeros(len(X))
        for xi, k in zip(directions, RIDGE_DEGREES, strict=True):
            mean, square = _gaussian_moment(k), _gaussian_moment(2 * k)
            out += ((X @ xi) ** k - mean) / math.sqrt(square - mean**2)
        for features in MONOMIALS:
            counts = [features.count(i) for i in set(features)]
            mean = math.prod(_gaussian_moment(c) for c in counts)
            square = math.prod(_gaussian_moment(2 * c) for c in counts)
            out += (np.prod(X[:, list(features)], axis=1) - mean) / math.sqrt(
                square - mean**2
            )
        return out

    variance = float(
        np.var(f(np.random.default_rng(10_000 + seed).standard_normal((100_000, d))))
    )
    sigma = math.sqrt(variance * (1 - best_r2) / best_r2)
    X = rng.standard_normal((n_train + n_test, d))
    fx = f(X)
    y = fx + sigma * rng.standard_normal(len(X))
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:], fx[n_train:]


# -- one model in one process ----------------------------------------------------


def _attention(**kwargs):
    from sklearn_attnpoly import AttentionPolynomialRegressor

    return AttentionPolynomialRegressor(**kwargs)


class SketchRidge:
    """``PolynomialCountSketch`` applied 1000 rows at a time (its transform
    holds ``degree x rows x n_components`` complex FFTs), then ridge with alpha
    chosen on a held-out tenth from one eigendecomposition, refitted."""

    def __init__(self, n_components, seed, d):
        from sklearn.kernel_approximation import PolynomialCountSketch
        from sklearn.preprocessing import StandardScaler

        self.scaler = StandardScaler()
        self.sketch = PolynomialCountSketch(
            degree=4, n_components=n_components, gamma=1.0 / d, coef0=1.0,
            random_state=seed,
        )  # fmt: skip

    def _features(self, X):
        X = self.scaler.transform(X)
        return np.vstack(
            [self.sketch.transform(X[i : i + 1000]) for i in range(0, len(X), 1000)]
        )

    def fit(self, X, y):
        self.sketch.fit(self.scaler.fit_transform(X))
        Z = self._features(X)
        held = np.arange(len(X)) % 10 == 0
        best = None
        for alpha in np.logspace(-1, 4, 11):
            coef, mean_z, mean_y = self._solve(Z[~held], y[~held], alpha)
            error = np.mean(((Z[held] - mean_z) @ coef + mean_y - y[held]) ** 2)
            if best is None or error < best[0]:
                best = (error, alpha)
        self.alpha_ = best[1]
        self.coef_, self.mean_z_, self.mean_y_ = self._solve(Z, y, self.alpha_)
        return self

    @staticmethod
    def _solve(Z, y, alpha):
        mean_z, mean_y = Z.mean(0), y.mean()
        Zc = Z - mean_z
        G = Zc.T @ Zc
        G.flat[:: len(G) + 1] += alpha
        return np.linalg.solve(G, Zc.T @ (y - mean_y)), mean_z, mean_y

    def predict(self, X):
        return (self._features(X) - self.mean_z_) @ self.coef_ + self.mean_y_


def run_one(section, model, seed, arg):
    """Fit one model; return its numbers (run in a fresh process)."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1)
    record = {"section": section, "model": model, "seed": seed, "arg": arg}
    if section == "f2":
        X, y, X_test, f_test = f2_split(seed)
        from sklearn.linear_model import LinearRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import PolynomialFeatures

        est = {
            "varpro": lambda: _attention(
                degree=5, n_directions=arg, solver="varpro", random_state=seed
            ),
            "lattice": lambda: _attention(degree=5),
            "pf5_lr": lambda: make_pipeline(PolynomialFeatures(5), LinearRegression()),
        }[model]()
    elif section == "highd":
        X, y, X_test, y_test, f_test = highd_split(seed)
        from sklearn.neural_network import MLPRegressor
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        if model == "lattice":
            try:
                _attention(degree=4).fit(X, y)
            except MemoryError as error:
                return {**record, "refused": str(error)}
        est = {
            "varpro": lambda: _attention(
                degree=4, n_directions=arg, solver="varpro", random_state=seed
            ),
            "sketch_ridge": lambda: SketchRidge(arg, seed, X.shape[1]),
            "mlp": lambda: make_pipeline(
                StandardScaler(),
                MLPRegressor(
                    hidden_layer_sizes=(arg,),
                    early_stopping=True,
                    max_iter=500,
                    random_state=seed,
                ),
            ),
        }[model]()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    est.fit(X, y)
    record["fit_seconds"] = time.perf_counter() - start
    prediction = est.predict(X_test)
    record["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    record["rss_before_fit_mib"] = rss_before
    if section == "f2":
        record["test_mse_vs_f2"] = float(np.mean((prediction - f_test) ** 2))
    else:
        record["test_r2"] = float(
            1 - np.mean((prediction - y_test) ** 2) / np.var(y_test)
        )
        record["best_r2"] = float(1 - np.mean((f_test - y_test) ** 2) / np.var(y_test))
    if model == "varpro":
        record["n_iter"] = int(est.n_iter_)
    return record


def _in_process(section, model, seed, arg):
    done = subprocess.run(
        [sys.executable, __file__, "--one", json.dumps([section, model, seed, arg])],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    record = json.loads(done.stdout.strip().splitlines()[-1])
    print(json.dumps(record), flush=True)
    return record


def section_f2():
    rows = []
    for seed in (0, 1, 2):
        for n in (12, 16, 24, 32):
            rows.append(_in_process("f2", "varpro", seed, n))
        rows.append(_in_process("f2", "lattice", seed, None))
        rows.append(_in_process("f2", "pf5_lr", seed, None))
    return rows


def section_highd(seeds=(0,)):
    rows = []
    for seed in seeds:
        rows.append(_in_process("highd", "lattice", seed, None))
        rows.append(_in_process("highd", "varpro", seed, 48))
        # as many features as varpro has parameters: 48 (100 + 4) + 1
        rows.append(_in_process("highd", "sketch_ridge", seed, 48 * 104))
        rows.append(_in_process("highd", "mlp", seed, 64))
    return rows


def section_datasets():
    import warnings

    import torch
    from sklearn.datasets import (
        load_diabetes,
        load_linnerud,
        make_friedman1,
        make_friedman2,
        make_friedman3,
    )
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import KFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1)

    def noisy(make):
        X, y = make(n_samples=1500, noise=0.0, random_state=0)
        return X, y + 0.1 * y.std() * np.random.default_rng(0).standard_normal(len(y))

    data = {
        "diabetes": (load_diabetes(return_X_y=True), 2),
        "friedman1": (make_friedman1(n_samples=1500, noise=0.5, random_state=0), 3),
        "friedman2": (noisy(make_friedman2), 3),
        "friedman3": (noisy(make_friedman3), 3),
        "linnerud": (load_linnerud(return_X_y=True), 2),
    }
    rows = []
    folds = KFold(5, shuffle=True, random_state=0)
    for name, ((X, y), q) in data.items():
        d = X.shape[1]
        models = {
            f"varpro n={d}": _attention(
                degree=q, n_directions=d, solver="varpro", random_state=0
            ),
            f"lattice ({math.comb(d - 1 + q, q)} directions)": _attention(degree=q),
            "PF + RidgeCV": make_pipeline(
                StandardScaler(),
                PolynomialFeatures(q, include_bias=False),
                StandardScaler(),
                RidgeCV(alphas=np.logspace(-6, 3, 19)),
            ),  # fmt: skip
        }
        for model, est in models.items():
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                scores = cross_val_score(est, X, y, cv=folds)
            row = {
                "section": "datasets", "dataset": name, "shape": list(X.shape),
                "degree": q, "model": model, "r2_mean": float(scores.mean()),
                "r2_std": float(scores.std()), "seconds": time.perf_counter() - start,
            }  # fmt: skip
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sections", default="f2,highd,datasets")
    parser.add_argument(
        "--out", default=os.path.join(HERE, "learned_directions_results.json")
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(*json.loads(args.one))))
        return
    sections = {"f2": section_f2, "highd": section_highd, "datasets": section_datasets}
    results = {}
    if os.path.exists(args.out):
        with open(args.out) as file:
            results = json.load(file)
    for name in args.sections.split(","):
        results[name] = {
            "machine": {
                "processor": platform.processor() or platform.machine(),
                "cpus": os.cpu_count(),
                "threads": 1,
                "load_average_before": os.getloadavg(),
            },
            "rows": sections[name](),
        }
        results[name]["machine"]["load_average_after"] = os.getloadavg()
        with open(args.out, "w") as file:
            json.dump(results, file, indent=1)


if __name__ == "__main__":
    main()
