"""The closed-form fit from the data's moments, against its floor and its peers.

    python benchmarks/moments.py
        [--sections fit,q6,cv,stream,dask,few,gpu,threads,cv_rows]
        [--compare-rows 4500] [--repeats 2] [--out FILE]

Every timing is at one thread (BLAS and torch), except in ``threads``, after a
warm-up fit in the same process, and every ratio is between numbers of the
same run. Sections:

- ``fit``: f2 (45000 x 10, q = 5) ``solver="lstsq"`` against its floor (the
  moments, ``N (C(20, 10) + C(15, 5))`` multiply-adds, and a Cholesky of ``p =
  3002``, at the GEMM rate measured here) and against
  ``PolynomialFeatures(5)`` + ``Ridge(solver="cholesky")``, with test MSEs;
- ``q6``: the same at q = 6 (``p = 8007``; the peer holds 45000 x 8008
  features);
- ``cv``: ``AttentionPolynomialRegressorCV`` over degrees 1-5, 20 alphas, 5
  folds on f2, against one f2 fit; against ``GridSearchCV`` over the
  StandardScaler -> PolynomialFeatures -> StandardScaler -> Ridge pipeline
  with the same grid and folds, run in full on the first ``--compare-rows``
  rows (scores, choice and time); and that search's time on all of f2,
  estimated from one measured pipeline fit per degree (the 500 fits in full
  take about an hour at one thread on this machine);
- ``stream``: ``partial_fit`` over 10 million f2 rows in batches of 100000, in
  a child process (its peak resident memory); after the first 1 million rows
  the model's coefficients against ``fit`` on those rows;
- ``dask``: ``fit`` on Dask arrays on a 2-worker ``LocalCluster`` against the
  NumPy fit;
- ``few``: 500 x 10 rows at degree 6 (more features than rows: the dual)
  against ``PolynomialFeatures(6)`` + ``Ridge``;
- ``gpu``: the moments path with ``device="cuda"`` against the CPU, where a
  GPU is available;
- ``threads``: f2 at q = 5 at one thread and at every core this process may
  use: the fit and its moments alone, the parallel efficiency ``t_1 / (T
  t_T)``, the floor (the moments' and the Cholesky's flops at the GEMM rate
  measured at that thread count) and ``PolynomialFeatures(5)`` +
  ``Ridge(solver="cholesky")``, each the best of ``--repeats``, calls taken in
  turn;
- ``cv_rows``: ``AttentionPolynomialRegressorCV`` on 1000 rows of the borehole
  function (8 inputs), degrees 1-7, 13 alphas (``logspace(-6, 6, 13)``), 5
  unshuffled folds, where degrees 5-7 have more monomials than a fold has
  training rows, against ``GridSearchCV`` over StandardScaler ->
  PolynomialFeatures -> StandardScaler -> RidgeCV with the same alphas and
  folds: times and the chosen degrees.

``--out`` writes the results as JSON (nothing is written without it).
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

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from sklearn_attnpoly import (
    AttentionPolynomialRegressor,
    AttentionPolynomialRegressorCV,
)
from sklearn_attnpoly.paper.datasets import make_paper_f2

ALPHAS = np.logspace(-6, 3, 20)
STREAM_ROWS, STREAM_BATCH, CHECK_ROWS = 10_000_000, 100_000, 1_000_000


def f2(n_train=45000, n_test=5000, random_state=0):
    X, y = make_paper_f2(n_train + n_test, random_state=random_state)
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def timed(function, repeats=1):
    """The fastest of ``repeats`` calls, and the last result."""
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def gemm_rate():
    """float64 GEMM, GFLOP/s: the best of three 3000^3 products."""
    a, b = np.random.default_rng(0).random((2, 3000, 3000))
    seconds, _ = timed(lambda: a @ b, repeats=3)
    return 2 * 3000**3 / seconds / 1e9


def warm_up():
    X, y, _, _ = f2(500, 0)
    AttentionPolynomialRegressor(degree=2, device="cpu").fit(X, y)


def _peer(degree, X, y):
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures

    return make_pipeline(PolynomialFeatures(degree), Ridge(solver="cholesky")).fit(X, y)


def executed_floor(flops):
    """Seconds that ``flops`` floating-point operations of float64 GEMM take
    now: enough 2000^3 products to do that work. On a shared machine the rate
    moves, so the floor is also run beside the fit it is compared with."""
    a, b = np.random.default_rng(1).random((2, 2000, 2000))
    each = 2 * 2000**3
    products = max(1, round(flops / each))
    seconds, _ = timed(lambda: [a @ b for _ in range(products)])
    return seconds * flops / (products * each)


def fit_section(degree, gflops, repeats):
    """Our lstsq fit against its floor and PolynomialFeatures + Ridge."""
    X, y, X_test, y_test = f2()
    n, d = X.shape
    p = math.comb(d + degree, degree) - 1
    moments = n * (
        math.comb(d + 2 * degree, 2 * degree) + math.comb(d + degree, degree)
    )
    floor_flops = 2 * moments + p**3 / 3
    floor = floor_flops / (gflops * 1e9)
    before = executed_floor(floor_flops)
    seconds, est = timed(
        lambda: AttentionPolynomialRegressor(degree=degree, device="cpu").fit(X, y),
        repeats,
    )
    beside = (before + executed_floor(floor_flops)) / 2
    peer_seconds, peer = timed(lambda: _peer(degree, X, y))
    mse = float(np.mean((est.predict(X_test) - y_test) ** 2))
    peer_mse = float(np.mean((peer.predict(X_test) - y_test) ** 2))
    return {
        "degree": degree,
        "p": p,
        "seconds": seconds,
        "floor_gflop": floor_flops / 1e9,
        "floor_seconds": floor,
        "over_floor": seconds / floor,
        "floor_run_beside_seconds": beside,
        "over_floor_run_beside": seconds / beside,
        "peer_seconds": peer_seconds,
        "over_peer": seconds / peer_seconds,
        "test_mse": mse,
        "peer_test_mse": peer_mse,
        "mse_relative_difference": abs(mse - peer_mse) / peer_mse,
    }


def _pipeline():
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler

    return Pipeline(
        [
            ("scale", StandardScaler()),
            ("poly", PolynomialFeatures(include_bias=False)),
            ("standardise", StandardScaler()),
            ("ridge", Ridge()),
        ]
    )


def _ours_cv(X, y):
    return AttentionPolynomialRegressorCV(
        degrees=(1, 2, 3, 4, 5), alphas=ALPHAS, cv=5
    ).fit(X, y)


def grid_search(X, y):
    """GridSearchCV over the pipeline, the same grid and (unshuffled) folds."""
    from sklearn.model_selection import GridSearchCV, KFold

    grid = {"poly__degree": [1, 2, 3, 4, 5], "ridge__alpha": list(ALPHAS)}
    return GridSearchCV(_pipeline(), grid, cv=KFold(5), refit=False).fit(X, y)


def cv_section(compare_rows, repeats):
    """Our CV on f2 against one fit; against GridSearchCV over the full grid
    on the first ``compare_rows`` rows (the same folds: scores, choice, time);
    and GridSearchCV's time on all of f2 estimated from one measured pipeline
    fit per degree on a training fold (4/5 of the rows) times 20 alphas x 5
    folds."""
    X, y, _, _ = f2()
    one, _ = timed(lambda: AttentionPolynomialRegressor(degree=5).fit(X, y), repeats)
    seconds, cv = timed(lambda: _ours_cv(X, y))
    out = {
        "seconds": seconds,
        "one_fit_seconds": one,
        "over_one_fit": seconds / one,
        "degree": cv.degree_,
        "alpha": cv.alpha_,
        "best_score": cv.best_score_,
    }
    Xc, yc = X[:compare_rows], y[:compare_rows]
    small, ours = timed(lambda: _ours_cv(Xc, yc))
    search_seconds, search = timed(lambda: grid_search(Xc, yc))
    # ours again, after the search: the slower of the two is compared, so that
    # a change of the machine's load during the long search does not favour us
    small = max(small, timed(lambda: _ours_cv(Xc, yc))[0])
    params = ours.cv_results_["params"]
    got = {
        (p["degree"], p["alpha"]): s
        for p, s in zip(params, ours.cv_results_["mean_test_score"], strict=True)
    }
    params = search.cv_results_["params"]
    expected = {
        (p["poly__degree"], p["ridge__alpha"]): s
        for p, s in zip(params, search.cv_results_["mean_test_score"], strict=True)
    }
    best = search.best_params_
    out["compared_on_rows"] = compare_rows
    out["compared"] = {
        "ours_seconds": small,
        "gridsearch_seconds": search_seconds,
        "gridsearch_over_ours": search_seconds / small,
        "ours_best": [ours.degree_, ours.alpha_],
        "gridsearch_best": [best["poly__degree"], best["ridge__alpha"]],
        "max_score_difference": max(abs(got[k] - v) for k, v in expected.items()),
    }
    fold = slice(0, 4 * len(X) // 5)
    per_degree = {
        q: timed(
            lambda q=q: _pipeline().set_params(poly__degree=q).fit(X[fold], y[fold])
        )[0]
        for q in (1, 2, 3, 4, 5)
    }
    estimate = sum(per_degree.values()) * len(ALPHAS) * 5
    out["gridsearch_full_estimate_seconds"] = estimate
    out["gridsearch_full_estimate_over_ours"] = estimate / seconds
    out["pipeline_fit_seconds_per_degree"] = per_degree
    return out


def stream_child(rows):
    """partial_fit over ``rows`` rows of the stream, in a child process of its
    own (its peak memory is the stream's); at ``CHECK_ROWS`` rows, the check
    against ``fit``."""
    est = AttentionPolynomialRegressor(degree=5)
    spent, check = 0.0, {}
    for i in range(rows // STREAM_BATCH):
        X, y = make_paper_f2(STREAM_BATCH, random_state=1000 + i)
        start = time.perf_counter()
        est.partial_fit(X, y)
        spent += time.perf_counter() - start
        if rows == CHECK_ROWS and (i + 1) * STREAM_BATCH == CHECK_ROWS:
            check = _check_against_fit(est)
    start = time.perf_counter()
    est.to_polynomial()  # the deferred solve
    solve = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "rows": rows,
        "batch": STREAM_BATCH,
        "partial_fit_seconds": spent,
        "rows_per_second": rows / spent,
        "final_solve_seconds": solve,
        "peak_mib": peak,
        "check_rows": CHECK_ROWS,
        **check,
    }


def _check_against_fit(est):
    """The streamed model after the first rows against ``fit`` on those rows:
    the largest difference of the fitted polynomial's coefficients (in the
    data's units), relative to the largest coefficient."""
    X, y = zip(
        *(
            make_paper_f2(STREAM_BATCH, random_state=1000 + i)
            for i in range(CHECK_ROWS // STREAM_BATCH)
        ),
        strict=True,
    )
    whole = AttentionPolynomialRegressor(degree=5).fit(np.vstack(X), np.concatenate(y))
    got, expected = est.to_polynomial(), whole.to_polynomial()
    scale = max(abs(v) for v in expected.values())
    worst = max(abs(got[k] - v) for k, v in expected.items()) / scale
    return {"coefficients_relative_difference": worst}


def stream_section():
    """The 10 million rows in one child; the check on the first 1 million
    (and the ``fit`` it needs) in another, so that the first's peak memory is
    the stream's alone."""
    out = {}
    for rows in (STREAM_ROWS, CHECK_ROWS):
        done = subprocess.run(
            [sys.executable, __file__, "--stream-child", str(rows)],
            capture_output=True,
            text=True,
            check=True,
            env=os.environ | {"OMP_NUM_THREADS": "1"},
        )
        out[f"{rows}_rows"] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def dask_section():
    import dask.array as da
    from distributed import Client, LocalCluster

    X, y, X_test, _ = f2()
    whole = AttentionPolynomialRegressor(degree=5).fit(X, y)
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as c,
        Client(c),
    ):
        seconds, chunked = timed(
            lambda: AttentionPolynomialRegressor(degree=5).fit(
                da.from_array(X, chunks=(9000, 10)), da.from_array(y, chunks=9000)
            )
        )
    expected = whole.predict(X_test)
    got, coef = chunked.to_polynomial(), whole.to_polynomial()
    scale = max(abs(v) for v in coef.values())
    return {
        "workers": 2,
        "seconds": seconds,
        "predictions_relative_difference": float(
            abs(chunked.predict(X_test) - expected).max() / abs(expected).max()
        ),
        "coefficients_relative_difference": max(
            abs(got[k] - v) for k, v in coef.items()
        )
        / scale,
    }


def few_section(repeats):
    """Issue 12's case: 500 x 10 at degree 6, fewer rows than features."""
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures

    X, y, X_test, _ = f2(500, 500, random_state=1)
    out = {}
    for alpha in (1e-8, 1.0):
        seconds, est = timed(
            lambda a=alpha: AttentionPolynomialRegressor(degree=6, alpha=a).fit(X, y),
            repeats,
        )
        out[f"ours_alpha_{alpha:g}_seconds"] = seconds
    peer_seconds, _ = timed(
        lambda: make_pipeline(PolynomialFeatures(6), Ridge()).fit(X, y), repeats
    )
    out["peer_seconds"] = peer_seconds
    out["over_peer"] = max(out["ours_alpha_1e-08_seconds"], out["ours_alpha_1_seconds"])
    out["over_peer"] /= peer_seconds
    return out


def gpu_section():
    if not torch.cuda.is_available():
        return {"available": False}
    X, y, X_test, _ = f2()
    cpu_seconds, cpu = timed(lambda: AttentionPolynomialRegressor(degree=5).fit(X, y))
    gpu_seconds, gpu = timed(
        lambda: AttentionPolynomialRegressor(degree=5, device="cuda").fit(X, y)
    )
    got, expected = gpu.to_polynomial(), cpu.to_polynomial()
    scale = max(abs(v) for v in expected.values())
    return {
        "available": True,
        "over_cpu": gpu_seconds / cpu_seconds,
        "coefficients_relative_difference": max(
            abs(got[k] - v) for k, v in expected.items()
        )
        / scale,
    }


def _interleaved(functions, repeats, cpu=None):
    """The fastest of ``repeats`` calls of each function, the calls taken in
    turn so that a change of load on a shared machine touches all alike.
    ``cpu``, a list, receives the process's CPU seconds in each function's
    fastest call: on a busy machine, where a second thread finds no free
    core, the CPU time still shows what threads add (a thread pool that
    spins shows as CPU time far above one thread's)."""
    best = [math.inf] * len(functions)
    used = [math.nan] * len(functions)
    for _ in range(repeats):
        for k, function in enumerate(functions):
            start = time.process_time()
            seconds, _ = timed(function)
            if seconds < best[k]:
                best[k], used[k] = seconds, time.process_time() - start
    if cpu is not None:
        cpu.extend(used)
    return best


def _at_threads(threads, function):
    """``function`` with BLAS, OpenMP and torch held to ``threads`` threads."""

    def run():
        torch.set_num_threads(threads)
        try:
            with threadpool_limits(threads):
                return function()
        finally:
            torch.set_num_threads(1)

    return run


def threads_section(repeats):
    """f2 at q = 5 at one thread and at every core: the fit and its moments,
    the parallel efficiency ``t_1 / (T t_T)``, the floor at the GEMM rate
    measured at each thread count, and PolynomialFeatures(5) +
    Ridge(cholesky) at each."""
    from sklearn_attnpoly._solvers._moments import accumulate, moment_layout

    X, y, _, _ = f2()
    n, d = X.shape
    degree = 5
    p = math.comb(d + degree, degree) - 1
    layout, cross_layout = moment_layout(d, 2 * degree), moment_layout(d, degree)
    moment_flops = 2 * n * (layout.n_moments + cross_layout.n_moments)
    floor_flops = moment_flops + p**3 / 3
    centred, target = X - X.mean(axis=0), (y - y.mean())[:, None]

    def moments():
        mu, nu = np.zeros(layout.n_moments), np.zeros((1, cross_layout.n_moments))
        accumulate(layout, mu, centred, None, cross=(cross_layout, nu), targets=target)

    def fit():
        AttentionPolynomialRegressor(degree=degree, device="cpu").fit(X, y)

    counts = sorted({1, len(os.sched_getaffinity(0))})
    load_before = os.getloadavg()
    rates = {t: _at_threads(t, gemm_rate)() for t in counts}
    ours_cpu, sums_cpu = [], []
    ours = _interleaved([_at_threads(t, fit) for t in counts], repeats, ours_cpu)
    sums = _interleaved([_at_threads(t, moments) for t in counts], repeats, sums_cpu)
    peer = _interleaved(
        [_at_threads(t, lambda: _peer(degree, X, y)) for t in counts], repeats
    )
    result = {
        "degree": degree,
        "p": p,
        "moment_gflop": moment_flops / 1e9,
        "floor_gflop": floor_flops / 1e9,
        "repeats": repeats,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
    }
    for k, t in enumerate(counts):
        floor = floor_flops / (rates[t] * 1e9)
        result[f"threads_{t}"] = {
            "gemm_gflops": rates[t],
            "fit_seconds": ours[k],
            "fit_cpu_seconds": ours_cpu[k],
            "moments_seconds": sums[k],
            "moments_cpu_seconds": sums_cpu[k],
            "moments_floor_seconds": moment_flops / (rates[t] * 1e9),
            "floor_seconds": floor,
            "over_floor": ours[k] / floor,
            "peer_seconds": peer[k],
            "over_peer": ours[k] / peer[k],
        }
    if len(counts) > 1:
        t = counts[-1]
        result["fit_efficiency"] = ours[0] / (t * ours[-1])
        result["moments_efficiency"] = sums[0] / (t * sums[-1])
        result["peer_efficiency"] = peer[0] / (t * peer[-1])
    return result


#: The borehole function's inputs and their standard ranges (Surjanovic and
#: Bingham's library of simulation test functions): rw, r, Tu, Hu, Tl, Hl, L, Kw.
BOREHOLE_RANGES = np.array(
    [
        [0.05, 0.15],
        [100, 50000],
        [63070, 115600],
        [990, 1110],
        [63.1, 116],
        [700, 820],
        [1120, 1680],
        [9855, 12045],
    ]
)


def borehole(n_samples, random_state=0):
    """The borehole function (water flow through a borehole, m^3/yr) at
    uniform inputs on their standard ranges: a smooth 8-input simulator."""
    low, high = BOREHOLE_RANGES.T
    X = np.random.default_rng(random_state).uniform(low, high, (n_samples, 8))
    rw, r, Tu, Hu, Tl, Hl, L, Kw = X.T
    log_ratio = np.log(r / rw)
    flow = (
        2
        * np.pi
        * Tu
        * (Hu - Hl)
        / (log_ratio * (1 + 2 * L * Tu / (log_ratio * rw**2 * Kw) + Tu / Tl))
    )
    return X, flow


def cv_rows_section(repeats):
    """AttentionPolynomialRegressorCV on 1000 borehole rows, degrees 1-7, 13
    alphas, 5 folds (degrees 5-7 outnumber a fold's 800 training rows: the
    row form), against GridSearchCV over StandardScaler -> PolynomialFeatures
    -> StandardScaler -> RidgeCV with the same alphas and folds."""
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import GridSearchCV, KFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler

    X, y = borehole(1000)
    alphas, folds, degrees = np.logspace(-6, 6, 13), KFold(5), range(1, 8)
    fitted = {}

    def ours():
        fitted["ours"] = AttentionPolynomialRegressorCV(
            degrees=degrees, alphas=alphas, cv=folds
        ).fit(X, y)

    def theirs():
        pipe = make_pipeline(
            StandardScaler(), PolynomialFeatures(), StandardScaler(), RidgeCV(alphas)
        )
        fitted["theirs"] = GridSearchCV(
            pipe, {"polynomialfeatures__degree": degrees}, cv=folds
        ).fit(X, y)

    load_before = os.getloadavg()
    seconds, peer_seconds = _interleaved([ours, theirs], repeats)
    ours_fit, theirs_fit = fitted["ours"], fitted["theirs"]
    return {
        "rows": len(X),
        "features": X.shape[1],
        "repeats": repeats,
        "seconds": seconds,
        "peer_seconds": peer_seconds,
        "over_peer": seconds / peer_seconds,
        "degree": ours_fit.degree_,
        "alpha": ours_fit.alpha_,
        "best_score": ours_fit.best_score_,
        "peer_degree": theirs_fit.best_params_["polynomialfeatures__degree"],
        "peer_best_score": theirs_fit.best_score_,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default="fit,q6,cv,stream,dask,few,gpu")
    parser.add_argument("--compare-rows", type=int, default=4500)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", default=None)
    parser.add_argument("--stream-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        if args.stream_child:
            print(json.dumps(stream_child(args.stream_child)))
            return
        warm_up()
        gflops = gemm_rate()
        report = {
            "machine": {
                "processor": platform.processor() or platform.machine(),
                "cpus": os.cpu_count(),
                "threads": 1,
                "gemm_gflops": gflops,
                "load_average_before": os.getloadavg(),
            }
        }
        sections = args.sections.split(",")
        if "fit" in sections:
            report["fit_q5"] = fit_section(5, gflops, args.repeats)
        if "q6" in sections:
            report["fit_q6"] = fit_section(6, gflops, 1)
        if "cv" in sections:
            report["cv"] = cv_section(args.compare_rows, args.repeats)
        if "few" in sections:
            report["few_rows"] = few_section(args.repeats)
        if "dask" in sections:
            report["dask"] = dask_section()
        if "gpu" in sections:
            report["gpu"] = gpu_section()
        if "stream" in sections:
            report["stream"] = stream_section()
        if "threads" in sections:
            report["threads"] = threads_section(args.repeats)
        if "cv_rows" in sections:
            report["cv_rows"] = cv_rows_section(args.repeats)
        report["machine"]["load_average_after"] = os.getloadavg()
    print(json.dumps(report, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
