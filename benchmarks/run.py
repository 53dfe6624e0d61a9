"""Benchmarks of issue 5: gradient steps, lstsq on f2, the SGD protocol, scaling.

Every configuration runs in its own process, so that its peak resident memory
(``ru_maxrss`` of that child) is its own. Ratios are taken between numbers
measured in the same run. ::

    python benchmarks/run.py            # full run: the tables, results.json, plots
    python benchmarks/run.py --quick    # smoke test, under a minute

The table goes to stdout, the numbers to ``benchmarks/results.json`` (or
``--out``), the scaling curves to ``benchmarks/scaling.png``.
"""

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


# -- the configurations, each run in a child process ---------------------------


def _setup(threads):
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    threadpool_limits(threads)


def _timed(fn, repeats):
    """Median wall time of ``repeats`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def machine_rates(size, repeats):
    """Float64 matrix-multiply rate and float32 streaming bandwidth."""
    import torch

    a = torch.randn(size, size, dtype=torch.float64)
    gemm = _timed(lambda: a @ a, repeats)
    x = torch.randn(50_000_000)
    y = torch.empty_like(x)
    stream = _timed(lambda: torch.add(x, 1.0, out=y), repeats)
    return {
        "gemm_gflops": 2 * size**3 / gemm / 1e9,
        "stream_gbytes": 2 * x.numel() * 4 / stream / 1e9,
    }


def gradient_step(engine_path, batch, n_features, degree, n_directions, repeats):
    """One loss + gradient of the network, float32, structured engine.

    ``engine_path="fast"`` is the training step (the loss and gradient in one
    pass, ``network.weighted_mse_loss``); ``"forward"`` the network's forward
    (the fused chain of ``_fast.py``) and autograd from the loss; ``"naive"``
    runs the structured blocks one by one and lets autograd differentiate
    them, with the slots stacked in memory.
    """
    import numpy as np
    import torch

    from sklearn_attnpoly import AttentionPolynomialNetwork
    from sklearn_attnpoly.attention._directions import lattice_directions

    if n_directions is None:
        directions = lattice_directions(n_features, degree)
    else:
        rng = np.random.default_rng(0)
        directions = rng.standard_normal((n_directions, n_features))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    net = AttentionPolynomialNetwork(
        torch.as_tensor(directions), degree, radius=2.0, dtype=torch.float32
    )
    with torch.no_grad():
        net.beta.normal_()
    x = torch.randn(batch, n_features) / math.sqrt(n_features)

    def naive():
        beta = net.beta * net.mask[..., None]
        slots = net.block_slots(x @ net.F.T)
        return torch.einsum("bnk,nko->bo", slots, beta) + net.b

    target, weight = torch.zeros(batch, 1), torch.ones(batch)

    def step():
        net.zero_grad()
        if engine_path == "fast":
            loss, _ = net.weighted_mse_loss(x, target, weight)
        else:
            y = net(x) if engine_path == "forward" else naive()
            loss = y.square().mean()
        loss.backward()

    seconds = _timed(step, repeats)
    return {
        "seconds": seconds,
        "n": len(directions),
        "rows_per_second": batch / seconds,
    }


def _f2(n_train, n_test=5000):
    from sklearn_attnpoly.paper.datasets import make_paper_f2

    X, y = make_paper_f2(n_train + n_test, random_state=0)
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def lstsq_ours(n_train, degree, method="auto"):
    """The estimator's lstsq fit on f2, and its set-up cost
    ``select_power_slots`` (included in the fit) on its own. ``method``
    forces how the normal equations are formed (``"moments"``, ``"dual"``;
    ``"auto"``: the estimator's choice, the moments on f2)."""
    import functools

    import numpy as np

    from sklearn_attnpoly import AttentionPolynomialRegressor, _regressor
    from sklearn_attnpoly._solvers import _readout
    from sklearn_attnpoly.attention._directions import (
        lattice_directions,
        select_power_slots,
    )

    used = []

    def fit_readout(*args, **kwargs):
        info = _readout.fit_readout(*args, **kwargs, method=method)
        used.append(info["method"])
        return info

    _regressor.fit_readout = functools.wraps(_readout.fit_readout)(fit_readout)
    X, y, X_test, y_test = _f2(n_train)
    # a small fit first, so that one-time imports (torch's optimizer machinery,
    # about 70 MiB and 1-5 s here) are not counted; the PF pipelines get the same
    AttentionPolynomialRegressor(degree=degree, device="cpu").fit(X[:500], y[:500])
    used.clear()
    start = time.perf_counter()
    select_power_slots(lattice_directions(X.shape[1], degree), degree)
    select_seconds = time.perf_counter() - start
    start = time.perf_counter()
    est = AttentionPolynomialRegressor(degree=degree, device="cpu").fit(X, y)
    fit_seconds = time.perf_counter() - start
    return {
        "seconds": fit_seconds,
        "select_power_slots_seconds": select_seconds,
        "p": int(est.net_.module_.mask.sum()),
        "method": used[0],
        "mse": float(np.mean((est.predict(X_test) - y_test) ** 2)),
    }


def condition_number(n_train, degree):
    """Condition number of the correlation-form normal equations of the lstsq
    fit on f2, from its explicit features (float64, not part of the fit)."""
    import numpy as np
    import scipy.linalg
    import torch

    from sklearn_attnpoly import AttentionPolynomialRegressor

    X, y, _, _ = _f2(n_train)
    est = AttentionPolynomialRegressor(degree=degree, device="cpu").fit(X, y)
    module = est.net_.module_
    with torch.no_grad():
        phi = module.slots(torch.as_tensor(est.scaling_.transform(X)))
        phi = phi[:, module.mask].double().numpy()
    phi -= phi.mean(axis=0)
    G = phi.T @ phi
    D = np.sqrt(np.diag(G))
    eigenvalues = scipy.linalg.eigvalsh(G / np.outer(D, D))
    return {"condition": float(eigenvalues[-1] / eigenvalues[0])}


def polynomial_features(n_train, degree, model):
    """``make_pipeline(PolynomialFeatures(degree), model)`` on f2."""
    import numpy as np
    from sklearn.linear_model import LinearRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures

    X, y, X_test, y_test = _f2(n_train)
    regressor = Ridge(solver="cholesky") if model == "ridge" else LinearRegression()
    pipe = make_pipeline(PolynomialFeatures(degree), regressor)
    pipe.fit(X[:500], y[:500])  # the same warm-up as lstsq_ours
    start = time.perf_counter()
    pipe.fit(X, y)
    seconds = time.perf_counter() - start
    mse = float(np.mean((pipe.predict(X_test) - y_test) ** 2))
    return {"seconds": seconds, "mse": mse}


def sgd_protocol(n_train, degree, epochs):
    """The paper's f2 protocol (SGD, batch 25000, one-cycle lr 1e-4 to 1e-3,
    float32, readout from zeros) for ``epochs`` epochs.

    ``epoch_seconds`` is the median of skorch's per-epoch durations, so the
    one-off set-up (imports, net initialisation) does not enter the
    extrapolation to 2000 epochs; ``step_seconds`` is the part spent in the
    gradient steps themselves, the rest of an epoch is skorch's data loading.
    """
    import numpy as np

    from sklearn_attnpoly import AttentionPolynomialRegressor

    X, y, _, _ = _f2(n_train)
    est = AttentionPolynomialRegressor(
        degree=degree,
        solver="sgd",
        lr=1e-3,
        batch_size=25000,
        max_epochs=epochs,
        readout_init="zeros",
        dtype="float32",
        device="cpu",
        random_state=0,
    )
    start = time.perf_counter()
    est.fit(X, y)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "epochs": epochs,
        "epoch_seconds": float(np.median(est.net_.history[:, "dur"])),
        "final_loss": est.loss_curve_[-1],
    }


CONFIGS = {
    "machine": machine_rates,
    "step": gradient_step,
    "lstsq_ours": lstsq_ours,
    "condition": condition_number,
    "pf": polynomial_features,
    "sgd": sgd_protocol,
}


def _child(name, kwargs, threads):
    _setup(threads)
    print(json.dumps(CONFIGS[name](**kwargs)))


# -- the parent: runs the children, prints, saves, plots -----------------------


def run(name, threads, **kwargs):
    """Run one configuration in a child; its result, wall time and peak RSS."""
    cmd = [
        sys.executable,
        __file__,
        "--child",
        name,
        json.dumps(kwargs),
        "--threads",
        str(threads),
    ]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    out, err = proc.stdout.read().decode(), proc.stderr.read().decode()
    row = {
        "config": name,
        **kwargs,
        "peak_mib": usage.ru_maxrss / 1024,
        "child_seconds": time.perf_counter() - start,
    }
    if proc.returncode != 0:
        row["error"] = (err.strip().splitlines() or ["killed"])[-1]
        print(f"  {name} {kwargs} failed: {row['error']}", flush=True)
        return row
    row.update(json.loads(out.strip().splitlines()[-1]))
    print(f"  {name} {kwargs}: {_brief(row)}", flush=True)
    return row


def _brief(row):
    keys = ("seconds", "mse", "peak_mib", "gemm_gflops", "stream_gbytes", "condition")
    return ", ".join(f"{k}={row[k]:.4g}" for k in keys if k in row)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke test sizes")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--out", type=Path, default=HERE / "results.json")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args.child[0], json.loads(args.child[1]), args.threads)

    quick, threads = args.quick, args.threads
    # --quick: f2 at degree 3 (p = 285) and steps at d = 4, q = 3 (n = 20)
    n_train, degree = (3000, 3) if quick else (45000, 5)
    d_step, q_step = (4, 3) if quick else (10, 5)
    f2_batch, naive_batch = (2000, 500) if quick else (25000, 2500)
    repeats = 1 if quick else 3
    started = time.perf_counter()
    load_before = os.getloadavg()
    print(f"threads={threads}, load average {load_before}", flush=True)

    rows = {
        "machine": run(
            "machine", threads, size=1000 if quick else 4000, repeats=repeats
        )
    }
    step = {
        "batch": naive_batch,
        "n_features": d_step,
        "degree": q_step,
        "n_directions": None,
        "repeats": repeats,
    }
    rows["step_naive"] = run("step", threads, engine_path="naive", **step)
    rows["step_fast"] = run("step", threads, engine_path="fast", **step)
    rows["step_forward"] = run("step", threads, engine_path="forward", **step)
    rows["step_fast_f2"] = run(
        "step", threads, engine_path="fast", **(step | {"batch": f2_batch})
    )
    rows["lstsq_ours"] = run("lstsq_ours", threads, n_train=n_train, degree=degree)
    rows["condition"] = run("condition", threads, n_train=n_train, degree=degree)
    rows["pf_ridge"] = run("pf", threads, n_train=n_train, degree=degree, model="ridge")
    rows["pf_lr"] = run("pf", threads, n_train=n_train, degree=degree, model="lr")
    rows["sgd"] = run(
        "sgd", threads, n_train=n_train, degree=degree, epochs=1 if quick else 5
    )

    scaling = _scaling(threads, quick, step, degree)
    summary = _summary(rows, n_train, f2_batch, naive_batch)
    load_after = os.getloadavg()
    cpu = platform.processor() or platform.machine()
    report = {
        "machine": {
            "description": f"{os.cpu_count()} CPU cores ({cpu}), no GPU",
            "threads": threads,
            "load_average_before": load_before,
            "load_average_after": load_after,
            "python": platform.python_version(),
        },
        "quick": quick,
        "rows": rows,
        "scaling": scaling,
        "summary": summary,
        "total_seconds": time.perf_counter() - started,
    }
    _print_table(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    _plot(scaling, args.out.with_name("scaling.png"))
    return report


def _scaling(threads, quick, step, degree):
    """Fast gradient step against batch N, directions n, degree q and
    features d, around ``step``; lstsq of ``degree`` against N."""
    if quick:
        grid = {"N": [1000], "n": [100], "q": [2], "d": [3]}
        lstsq_sizes = [1000]
    else:
        grid = {
            "N": [2500, 5000, 10000, 25000],
            "n": [250, 500, 1000, 2000],
            "q": [2, 3, 4, 5],
            "d": [4, 6, 8, 10],
        }
        lstsq_sizes = [5000, 15000, 45000]
    base = step | {"batch": grid["N"][-1]}
    changes = {
        "N": lambda v: {"batch": v},
        "n": lambda v: {"n_directions": v},
        "q": lambda v: {"degree": v},
        "d": lambda v: {"n_features": v},
    }
    curves = {}
    for axis, values in grid.items():
        curves[axis] = [
            {
                "value": v,
                **run("step", threads, engine_path="fast", **(base | changes[axis](v))),
            }
            for v in values
        ]
    curves["lstsq_N"] = [
        {
            "value": n,
            **run("lstsq_ours", threads, n_train=n, degree=degree),
        }
        for n in lstsq_sizes
    ]
    return curves


def _summary(rows, n_train, f2_batch, naive_batch):
    machine = rows["machine"]
    ours, ridge, lr = rows["lstsq_ours"], rows["pf_ridge"], rows["pf_lr"]
    naive, fast, fast_f2 = rows["step_naive"], rows["step_fast"], rows["step_fast_f2"]
    # the floor: N p^2 / 2 floating-point operations at the measured
    # GEMM rate (a Gram by rank-k updates does N p^2 / 2 multiply-adds, twice
    # that in flops; the moments path does N C(d + 2q, 2q) multiply-adds)
    floor_seconds = n_train * ours.get("p", 0) ** 2 / 2 / (machine["gemm_gflops"] * 1e9)
    # a step that keeps only t = Fx and dL/dt in memory still writes and reads
    # each once: 4 B n float32 words
    traffic = 4 * f2_batch * fast_f2.get("n", 0) * 4
    traffic_seconds = traffic / (machine["stream_gbytes"] * 1e9)
    sgd = rows["sgd"]
    steps_per_epoch = math.ceil(n_train / 25000)
    return {
        "step_speedup_same_batch": naive["seconds"] / fast["seconds"],
        "step_one_pass_over_forward_autograd": (
            fast["seconds"] / rows["step_forward"]["seconds"]
        ),
        "step_speedup_f2_extrapolated": (
            naive["seconds"] * f2_batch / naive_batch / fast_f2["seconds"]
        ),
        "step_f2_seconds": fast_f2["seconds"],
        "step_traffic_floor_seconds": traffic_seconds,
        "step_over_traffic_floor": fast_f2["seconds"] / traffic_seconds,
        "lstsq_over_pf_ridge": ours["seconds"] / ridge["seconds"],
        "lstsq_over_floor": ours["seconds"] / floor_seconds,
        "lstsq_floor_seconds": floor_seconds,
        "lstsq_condition": rows["condition"].get("condition", math.nan),
        "lstsq_mse_over_pf_lr": ours["mse"] / lr["mse"],
        "lstsq_peak_over_pf_ridge": ours["peak_mib"] / ridge["peak_mib"],
        "sgd_epoch_seconds": sgd["epoch_seconds"],
        "sgd_2000_epochs_minutes": sgd["epoch_seconds"] * 2000 / 60,
        "sgd_2000_epochs_steps_only_minutes": (
            2000 * fast_f2["seconds"] * n_train / f2_batch / 60
        ),
        "sgd_steps_per_epoch": steps_per_epoch,
    }


def _print_table(report):
    rows, s = report["rows"], report["summary"]
    print(
        f"\n{report['machine']['description']}, {report['machine']['threads']} "
        f"threads; load average {report['machine']['load_average_before']}"
    )
    print(f"{'configuration':<16}{'seconds':>10}{'MSE':>10}{'peak MiB':>10}")
    for name, row in rows.items():
        mse = f"{row['mse']:.4f}" if "mse" in row else ""
        seconds = f"{row['seconds']:.3f}" if "seconds" in row else ""
        print(f"{name:<16}{seconds:>10}{mse:>10}{row['peak_mib']:>10.0f}")
    print()
    for key, value in s.items():
        print(f"{key:<34}{value:>12.4g}")


def _plot(scaling, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = {
        "N": "batch N",
        "n": "directions n (random)",
        "q": "degree q (n = C(d-1+q, q))",
        "d": "features d (n = C(d-1+q, q))",
        "lstsq_N": "lstsq: training rows N",
    }
    fig, axes = plt.subplots(2, len(labels), figsize=(4 * len(labels), 6.5))
    for column, (axis, label) in enumerate(labels.items()):
        points = [p for p in scaling[axis] if "seconds" in p]
        values = [p["value"] for p in points]
        axes[0, column].plot(values, [p["seconds"] for p in points], "o-")
        axes[1, column].plot(values, [p["peak_mib"] for p in points], "o-")
        axes[0, column].set_ylim(bottom=0)
        axes[1, column].set_ylim(bottom=0)
        axes[0, column].set_title(label)
        axes[1, column].set_xlabel(label)
    axes[0, 0].set_ylabel("seconds (gradient step / fit)")
    axes[1, 0].set_ylabel("peak memory, MiB")
    fig.suptitle("sklearn-attnpoly scaling (structured engine, float32 steps)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


if __name__ == "__main__":
    main()
