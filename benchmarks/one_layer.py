"""OneLayerTransformerRegressor: its time against an MLP, the floor of an
epoch, and its accuracy on small data and on the paper's f2.

Sections (all by default):

- ``friedman1``: ``make_friedman1(n_samples=44000, noise=1.0, random_state=0)``,
  40 000 rows to train and 4 000 to test; ``MLPRegressor(hidden_layer_sizes=
  (100,), early_stopping=True, random_state=0)`` and the transformer with its
  defaults (``random_state=0``) in the same run: fit time, test R^2, epochs.
- ``floor``: the flops of one epoch of that fit, counted from the module's
  shapes (forward and backward over the training rows, forward over the
  held-out rows), at the float64 GEMM rate of this machine, one thread,
  measured with numpy and torch on products of the module's own shapes; the
  ratio of the fit's median epoch time to that floor.
- ``small``: 5-fold cross-validated R^2 on ``load_diabetes`` and
  ``load_linnerud`` (3 targets), the old defaults (``batch_size=None``, no
  early stopping) against the new ones.
- ``f2``: 2000 training and 2000 test rows of the paper's f2; the
  transformer, an MLP of about as many parameters and the degree-5 attention
  polynomial (closed form).

One thread (torch and BLAS); the load average is printed with each number.

Usage::

    python benchmarks/one_layer.py [friedman1 floor small f2] [--out FILE]

``--out one_layer_results.json`` writes the numbers beside this file.
"""

import argparse
import json
import os
import time

import numpy as np
import torch
from sklearn.datasets import load_diabetes, load_linnerud, make_friedman1
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from sklearn_attnpoly import AttentionPolynomialRegressor, OneLayerTransformerRegressor
from sklearn_attnpoly.paper.datasets import make_paper_f2

HERE = os.path.dirname(os.path.abspath(__file__))
OLD_DEFAULTS = {"batch_size": None, "early_stopping": False}


def _load():
    return round(os.getloadavg()[0], 2)


def _timed_fit(est, X, y):
    """Wall-clock and CPU seconds of ``est.fit(X, y)`` and the load average
    before and after: on a shared machine the CPU time is the steadier."""
    load = _load()
    start, cpu = time.perf_counter(), time.process_time()
    est.fit(X, y)
    return time.perf_counter() - start, time.process_time() - cpu, [load, _load()]


def section_friedman1(record):
    X, y = make_friedman1(n_samples=44000, noise=1.0, random_state=0)
    X_train, X_test, y_train, y_test = X[:40000], X[40000:], y[:40000], y[40000:]
    models = {
        "MLPRegressor((100,), early_stopping=True)": MLPRegressor(
            hidden_layer_sizes=(100,), early_stopping=True, random_state=0
        ),
        "OneLayerTransformerRegressor()": OneLayerTransformerRegressor(random_state=0),
    }
    rows = {}
    for name, est in models.items():
        seconds, cpu, load = _timed_fit(est, X_train, y_train)
        rows[name] = row = {
            "fit_seconds": seconds,
            "fit_cpu_seconds": cpu,
            "test_r2": est.score(X_test, y_test),
            "epochs": est.n_iter_,
            "load": load,
        }
        if isinstance(est, OneLayerTransformerRegressor):
            row["best_epoch"] = est.best_epoch_
            row["best_validation_score"] = est.best_validation_score_
            row["median_epoch_seconds"] = float(np.median(est.net_.history[:, "dur"]))
            row["cpu_seconds_per_epoch"] = cpu / est.n_iter_
            record["transformer"] = est, cpu / est.n_iter_
        print(json.dumps({name: row}), flush=True)
    mlp, ours = rows.values()
    rows["time_ratio"] = ours["fit_seconds"] / mlp["fit_seconds"]
    rows["cpu_time_ratio"] = ours["fit_cpu_seconds"] / mlp["fit_cpu_seconds"]
    rows["r2_difference"] = ours["test_r2"] - mlp["test_r2"]
    print(
        f"fit time ratio {rows['time_ratio']:.2f} (CPU time "
        f"{rows['cpu_time_ratio']:.2f}; target <= 5), test R^2 difference "
        f"{rows['r2_difference']:+.4f} (target >= -0.01)",
        flush=True,
    )
    return rows


def epoch_flops(module, n_train, n_valid):
    """Flops of one epoch: forward and backward (twice the forward's flops)
    over the training rows, forward over the held-out rows.

    The forward's flops per row, from the shapes (``d`` tokens of width
    ``D``, ``H`` hidden units, rank ``r``, ``O`` outputs): the two
    feed-forward networks ``2 * 2 * (2 d D H)``, the query, key and value
    maps and ``W_O`` ``4 * (2 d D r)``, the scores and their weighting of the
    values ``2 * (2 d^2 r)``, the readout ``2 D O``; the elementwise work
    (tanh, softmax, residuals) is left out.
    """
    d, D = module.position.shape
    H = module.ff_1[0].out_features
    r = module.rank
    O = module.out.out_features  # noqa: E741 - the paper's symbol
    forward = 8 * d * D * H + 8 * d * D * r + 4 * d * d * r + 2 * D * O
    return forward * (3 * n_train + n_valid), forward


def gemm_rate(m, k, n, library, seconds=1.0):
    """float64 GEMM flops per second of an ``(m, k) @ (k, n)`` product, per
    wall-clock second and per CPU second of this process."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(m, k)), rng.normal(size=(k, n))
    if library == "torch":
        a, b = torch.from_numpy(a), torch.from_numpy(b)
        product = torch.mm
    else:
        product = np.dot
    product(a, b)
    repeats, start, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        product(a, b)
        repeats += 1
    flops = 2 * m * k * n * repeats
    return flops / (time.perf_counter() - start), flops / (time.process_time() - cpu)


def section_floor(record):
    if "transformer" not in record:
        raise SystemExit("the floor section needs the friedman1 section's fit")
    est, cpu_epoch = record["transformer"]
    module, net = est.net_.module_, est.net_
    n_train = 40000 - int(np.ceil(est.validation_fraction * 40000))
    flops, forward = epoch_flops(module, n_train, 40000 - n_train)
    d, D = module.position.shape
    H = module.ff_1[0].out_features
    tokens = net.batch_size * d  # the rows of a step's feed-forward products
    rates = {}  # (wall, CPU) GFLOP/s
    for library in ("numpy", "torch"):
        for shape in ((tokens, D, H), (tokens, H, D), (1000, 1000, 1000)):
            rates[f"{library} {shape}"] = gemm_rate(*shape, library)
    # the floor: the faster library's rate on the step's first product
    wall_rate, cpu_rate = max(
        rates[f"{library} {(tokens, D, H)}"] for library in ("numpy", "torch")
    )
    floor, cpu_floor = flops / wall_rate, flops / cpu_rate
    epoch = float(np.median(net.history[:, "dur"]))
    row = {
        "forward_flops_per_row": forward,
        "epoch_gflop": flops / 1e9,
        "gemm_gflops_wall_cpu": {
            key: [value / 1e9 for value in pair] for key, pair in rates.items()
        },
        "epoch_floor_seconds": floor,
        "median_epoch_seconds": epoch,
        "epoch_over_floor": epoch / floor,
        "epoch_floor_cpu_seconds": cpu_floor,
        "cpu_seconds_per_epoch": cpu_epoch,
        "cpu_epoch_over_floor": cpu_epoch / cpu_floor,
        "load": _load(),
    }
    print(json.dumps(row), flush=True)
    print(
        f"epoch: {flops / 1e9:.2f} GFLOP; wall: floor {floor:.3f} s at "
        f"{wall_rate / 1e9:.1f} GFLOP/s, median epoch {epoch:.3f} s, "
        f"{epoch / floor:.1f}x; CPU: floor {cpu_floor:.3f} s at "
        f"{cpu_rate / 1e9:.1f} GFLOP/s, {cpu_epoch:.3f} s per epoch, "
        f"{cpu_epoch / cpu_floor:.1f}x",
        flush=True,
    )
    return row


def section_small(record):
    folds = KFold(5, shuffle=True, random_state=0)
    rows = []
    for name, (X, y) in {
        "diabetes": load_diabetes(return_X_y=True),
        "linnerud": load_linnerud(return_X_y=True),
    }.items():
        for label, params in (("old defaults", OLD_DEFAULTS), ("new defaults", {})):
            est = OneLayerTransformerRegressor(random_state=0, **params)
            load, start = _load(), time.perf_counter()
            cpu = time.process_time()
            predicted = cross_val_predict(est, X, y, cv=folds)
            row = {
                "dataset": name,
                "model": label,
                "cv_r2": r2_score(y, predicted),
                "seconds": time.perf_counter() - start,
                "cpu_seconds": time.process_time() - cpu,
                "load": [load, _load()],
            }
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def section_f2(record):
    X, y = make_paper_f2(n_samples=4000, random_state=0)
    X_train, X_test, y_train, y_test = X[:2000], X[2000:], y[:2000], y[2000:]
    transformer = OneLayerTransformerRegressor(random_state=0)
    models = {
        "one-layer transformer, defaults": transformer,
        "MLPRegressor (one hidden layer, as many parameters)": None,
        "AttentionPolynomialRegressor(degree=5), lstsq": AttentionPolynomialRegressor(
            degree=5
        ),
    }
    rows = []
    for name, est in models.items():
        if est is None:  # as many parameters as the transformer: 10 h + h + h + 1
            n_parameters = sum(p.numel() for p in transformer.net_.module_.parameters())
            est = make_pipeline(
                StandardScaler(),
                MLPRegressor(
                    hidden_layer_sizes=((n_parameters - 1) // 12,),
                    max_iter=500,
                    random_state=0,
                ),
            )
        seconds, cpu, load = _timed_fit(est, X_train, y_train)
        row = {
            "model": name,
            "fit_seconds": seconds,
            "fit_cpu_seconds": cpu,
            "train_r2": est.score(X_train, y_train),
            "test_r2": est.score(X_test, y_test),
            "load": load,
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


SECTIONS = {
    "friedman1": section_friedman1,
    "floor": section_floor,
    "small": section_small,
    "f2": section_f2,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sections", nargs="*", default=list(SECTIONS))
    parser.add_argument("--out", help="write the numbers to this JSON file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = {"command": "python benchmarks/one_layer.py " + " ".join(args.sections)}
    results["threads"] = 1
    record = {}
    with threadpool_limits(1):
        for name in args.sections:
            print(f"== {name} (load {_load()})", flush=True)
            results[name] = SECTIONS[name](record)
    if args.out:
        with open(os.path.join(HERE, args.out), "w") as file:
            json.dump(results, file, indent=1)


if __name__ == "__main__":
    main()
