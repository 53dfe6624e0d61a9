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

#: threads of every library in this process (a child of the ``threads``
#: section is started with 2)
THREADS = int(os.environ.get("ATTNPOLY_BENCH_THREADS", "1"))
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = str(THREADS)

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

    torch.set_num_threads(THREADS)
    threadpool_limits(THREADS)
    record = {"section": section, "model": model, "seed": seed, "arg": arg}
    if section == "threads":
        return {**record, **thread_record(model, arg)}
    if section == "highd60":
        return {**record, **highd60_record(model, seed)}
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


def _in_process(section, model, seed, arg, threads=1):
    done = subprocess.run(
        [sys.executable, __file__, "--one", json.dumps([section, model, seed, arg])],
        capture_output=True, text=True, check=True,
        env={**os.environ, "ATTNPOLY_BENCH_THREADS": str(threads)},
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


# -- issue 21: threads, the floor, 60 features ------------------------------------


def gemm_rate():
    """float64 GEMM rate of this process's threads (2000 x 2000, best of 5)."""
    rng = np.random.default_rng(0)
    A, B = rng.random((2000, 2000)), rng.random((2000, 2000))
    best = math.inf
    for _ in range(5):
        start = time.perf_counter()
        A @ B
        best = min(best, time.perf_counter() - start)
    return 2 * 2000**3 / best


class FloorCount:
    """Counts the flops of every pass of the varpro solver over its rows, at
    the least they need: the projections ``t = F x`` (``2 N n d``), the chain's
    slots (``3 N n q``), the weighted Gram matrix of the slots (``N p^2``, a
    symmetric product, ``p = n q``), the ridge's eigendecomposition (``10 p^3
    / 3``) and, for a gradient, the residuals, the slots' derivative chain and
    ``dJ/dF`` (``2 N p o + 6 N p + 4 N n d``); choosing the ridge adds the
    rotated slots and the leave-one-out residuals (``2 N p^2 + 4 N p A``);
    each batched evaluation of the growth's one-direction candidates adds
    theirs (:meth:`add_candidates`). Elementwise work is counted at the GEMM
    rate, so the floor is optimistic.
    """

    def __init__(self):
        self.flops, self.calls = 0.0, {"evaluate": 0, "choose_alpha": 0}

    def install(self):
        from sklearn_attnpoly._solvers._candidates import OneDirectionLosses
        from sklearn_attnpoly._solvers._varpro import ReducedLoss

        count = self
        evaluate, choose_alpha = ReducedLoss.evaluate, ReducedLoss.choose_alpha
        together = OneDirectionLosses.evaluate

        def counted_together(losses, Xi):
            count.add_candidates(losses, len(Xi))
            return together(losses, Xi)

        OneDirectionLosses.evaluate = counted_together

        def counted_evaluate(loss, F, gradient=True):
            count.add(loss, len(F), gradient)
            return evaluate(loss, F, gradient)

        def counted_choose_alpha(loss, F, alphas):
            count.add(loss, len(F), False, n_alphas=len(alphas))
            return choose_alpha(loss, F, alphas)

        ReducedLoss.evaluate = counted_evaluate
        ReducedLoss.choose_alpha = counted_choose_alpha

    def add_candidates(self, losses, K):
        """One batched evaluation of ``K`` one-direction candidates: their
        projections and ``dJ/dxi`` (``4 N K d``), slots, Gram matrices,
        cross products, residuals and derivative chain (``N K (2 q^2 + 4 q o
        + 8 q)``)."""
        N, d = losses.X.shape
        q, o = losses.degree, losses.Y_centred.shape[1]
        self.flops += 4 * N * K * d + N * K * (2 * q * q + 4 * q * o + 8 * q)
        self.calls["candidates"] = self.calls.get("candidates", 0) + 1

    def add(self, loss, n, gradient, n_alphas=0):
        N, d = loss.X.shape
        q, o = loss.degree, loss.Y.shape[1]
        p = n * q
        flops = 2 * N * n * d + 3 * N * p + N * p * p + 10 * p**3 / 3
        if gradient:
            flops += 2 * N * p * o + 6 * N * p + 4 * N * n * d
        if n_alphas:
            flops += 2 * N * p * p + 4 * N * p * n_alphas
            self.calls["choose_alpha"] += 1
        else:
            self.calls["evaluate"] += 1
        self.flops += flops


def _f2_loss(n_rows=45000):
    """The reduced loss at f2's shape (24 random directions, degree 5)."""
    import torch

    from sklearn_attnpoly._solvers._varpro import ReducedLoss
    from sklearn_attnpoly.attention import AttentionPolynomialNetwork

    X, y, _, _ = f2_split(0)
    X, y = X[:n_rows], y[:n_rows]
    X = (X - X.mean(0)) / np.linalg.norm(X - X.mean(0), axis=1).max()
    F = np.random.default_rng(0).standard_normal((24, X.shape[1]))
    F /= np.linalg.norm(F, axis=1, keepdims=True)
    module = AttentionPolynomialNetwork(torch.as_tensor(F), 5, radius=2.0)
    return ReducedLoss(module, X, (y - y.mean())[:, None], np.ones(len(X)), 1e-8), F


def thread_record(model, arg):
    """One row of the ``threads`` section, at :data:`THREADS` threads.

    ``evaluate_libraries``: one evaluation of the reduced loss with its
    gradient at f2's shape, every library at its own :data:`THREADS` threads
    (the solver before issue 21); ``evaluate_one_pool``: the same inside
    :func:`~sklearn_attnpoly._threads.one_pool` (every library at one thread,
    the chunks on :data:`THREADS`); ``fit``: the estimator on f2 with ``arg``
    directions, seed 0, with the floor of its passes (:class:`FloorCount`).
    """
    from sklearn_attnpoly._threads import one_pool

    record = {"threads": THREADS, "gemm_gflops": gemm_rate() / 1e9}
    if model.startswith("evaluate"):
        loss, F = _f2_loss()
        pool = one_pool(THREADS) if model == "evaluate_one_pool" else _no_pool()
        with pool:
            loss.evaluate(F)
            times = []
            for _ in range(7):
                start = time.perf_counter()
                loss.evaluate(F)
                times.append(time.perf_counter() - start)
        record["evaluate_ms_best"] = 1e3 * min(times)
        record["evaluate_ms_median"] = 1e3 * float(np.median(times))
    else:
        count = FloorCount()
        count.install()
        X, y, X_test, f_test = f2_split(0)
        est = _attention(degree=5, n_directions=arg, solver="varpro", random_state=0)
        start = time.perf_counter()
        est.fit(X, y)
        record["fit_seconds"] = time.perf_counter() - start
        record["test_mse_vs_f2"] = float(np.mean((est.predict(X_test) - f_test) ** 2))
        record["n_iter"] = int(est.n_iter_)
        record.update(_floor(count, record["fit_seconds"], record["gemm_gflops"]))
    record["load_average"] = os.getloadavg()
    return record


class _no_pool:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _floor(count, seconds, gflops):
    floor = count.flops / (gflops * 1e9)
    return {
        "evaluations": count.calls,
        "floor_gflop": count.flops / 1e9,
        "floor_seconds": floor,
        "measured_over_floor": seconds / floor,
    }


#: the 60-feature target: powers of 8 random projections and 4 sparse
#: monomials (feature indices), degree at most 3
RIDGE_DEGREES_60 = (1, 2, 3, 1, 2, 3, 2, 3)
MONOMIALS_60 = ((3, 17), (5, 42, 57), (8, 21, 33), (11, 11, 50))


def highd60_split(seed, n_train=12000, n_test=5000, d=60, best_r2=0.997):
    """60 standard normal features; a planted cubic (8 ridge powers and 4
    sparse monomials), noise for a best R^2 of 0.997; the noiseless test
    targets."""
    rng = np.random.default_rng(seed)
    directions = rng.standard_normal((len(RIDGE_DEGREES_60), d))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)

    def f(X):
        out = np.zeros(len(X))
        for xi, k in zip(directions, RIDGE_DEGREES_60, strict=True):
            out += (X @ xi) ** k
        for features in MONOMIALS_60:
            out += np.prod(X[:, list(features)], axis=1)
        return out

    X = rng.standard_normal((n_train + n_test, d))
    fx = f(X)
    sigma = math.sqrt(np.var(fx) * (1 - best_r2) / best_r2)
    y = fx + sigma * rng.standard_normal(len(X))
    return X[:n_train], y[:n_train], X[n_train:], fx[n_train:]


def varpro_self_tuned(X, y, degree, seed):
    """The varpro solver as the estimator calls it with ``n_directions=None``
    (issue 21): the estimator's ball scaling and standardised targets, the
    size chosen on a held-out tenth, the ridge by leave-one-out. Returns a
    predict function and the solver's result."""
    import torch

    from sklearn_attnpoly._scaling import AffineScaling
    from sklearn_attnpoly._solvers._varpro import ALPHAS, ReducedLoss, fit_varpro
    from sklearn_attnpoly.attention import AttentionPolynomialNetwork

    w = np.ones(len(X))
    scaling = AffineScaling.fit(X, w, 1.0)
    y_mean, y_std = y.mean(), y.std()
    module = AttentionPolynomialNetwork(
        torch.zeros(1, X.shape[1], dtype=torch.float64), degree, radius=2.0
    )
    loss = ReducedLoss(
        module, scaling.transform(X), ((y - y_mean) / y_std)[:, None], w, 1e-8
    )
    result = fit_varpro(
        loss, None, max_iter=200, tol=1e-5, rng=np.random.RandomState(seed),
        alphas=ALPHAS,
    )  # fmt: skip

    def predict(X_new):
        rows = ReducedLoss(
            module, scaling.transform(X_new), np.zeros((len(X_new), 1)),
            np.ones(len(X_new)), 1e-8,
        ).with_directions(result.n_directions_)  # fmt: skip
        return rows.predict(result.F, result.beta, result.b)[:, 0] * y_std + y_mean

    return predict, result


def highd60_record(model, seed):
    """One row of the ``highd60`` section: R^2 against the noiseless target
    and the fit time, one thread."""
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y, X_test, f_test = highd60_split(seed)
    record = {"threads": THREADS, "gemm_gflops": gemm_rate() / 1e9}
    count = FloorCount()
    count.install()  # and the solver's modules imported: the clock times fits
    start = time.perf_counter()
    if model == "varpro_auto":
        predict, result = varpro_self_tuned(X, y, 3, seed)
        record["fit_seconds"] = time.perf_counter() - start
        record.update(
            n_directions_=result.n_directions_, step_sizes=result.step_sizes,
            validation_score_=result.validation_score_.tolist(),
            alpha_=result.alpha_, n_iter=result.n_iter,
        )  # fmt: skip
        record.update(_floor(count, record["fit_seconds"], record["gemm_gflops"]))
    else:
        est = make_pipeline(
            StandardScaler(),
            MLPRegressor(
                hidden_layer_sizes=(256, 256), early_stopping=True, random_state=seed
            ),
        ).fit(X, y)
        record["fit_seconds"] = time.perf_counter() - start
        record["n_iter"] = int(est[-1].n_iter_)
        predict = est.predict
    record["r2_vs_truth"] = float(
        1 - np.mean((predict(X_test) - f_test) ** 2) / np.var(f_test)
    )
    record["load_average"] = os.getloadavg()
    return record


def section_threads():
    rows = []
    for model, arg in (("evaluate_libraries", None), ("evaluate_one_pool", None),
                       ("fit", 24)):  # fmt: skip
        for threads in (1, 2):
            rows.append(_in_process("threads", model, 0, arg, threads=threads))
    return rows


def section_highd60(seeds=(0,)):
    rows = []
    for seed in seeds:
        rows.append(_in_process("highd60", "varpro_auto", seed, None))
        rows.append(_in_process("highd60", "mlp", seed, None))
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
    sections = {
        "f2": section_f2, "highd": section_highd, "datasets": section_datasets,
        "threads": section_threads, "highd60": section_highd60,
    }  # fmt: skip
    results = {}
    if os.path.exists(args.out):
        with open(args.out) as file:
            results = json.load(file)
    for name in args.sections.split(","):
        results[name] = {
            "machine": {
                "processor": platform.processor() or platform.machine(),
                "cpus": os.cpu_count(),
                "threads": 1 if name != "threads" else [1, 2],
                "load_average_before": os.getloadavg(),
            },
            "rows": sections[name](),
        }
        results[name]["machine"]["load_average_after"] = os.getloadavg()
        with open(args.out, "w") as file:
            json.dump(results, file, indent=1)


if __name__ == "__main__":
    main()
