"""The chunk size of the passes over rows (``sklearn_attnpoly._chunks``).

Times, at the paper's f2 shape and on one thread, the three passes whose
chunks :data:`~sklearn_attnpoly._chunks.CHUNK_BYTES` sizes, for several values
of it:

- the attention network's training step (fused chain, loss and gradient in one
  pass): 25000 rows, the 2002 lattice directions, q = 5, float32;
- the moments of degree 10 of 45000 rows of 10 features (``solver="lstsq"``);
- NN_width's training step (10 -> 4368 -> 1, float32), 25000 rows.

Each is the best of ``--repeats`` runs. Usage::

    python benchmarks/chunks.py [--repeats 5] [--sizes 1 2 4 8 16 32]
"""

import argparse
import json
import platform
import time

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from sklearn_attnpoly import AttentionPolynomialNetwork, _chunks
from sklearn_attnpoly._solvers._moments import accumulate, moment_layout
from sklearn_attnpoly.attention import lattice_directions
from sklearn_attnpoly.paper._baselines import relu_network
from sklearn_attnpoly.paper._mlp_step import relu_layers, relu_mse_step


def best_of(repeats, run):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def passes():
    rng = np.random.default_rng(0)
    x = torch.as_tensor(rng.normal(size=(25000, 10)) / 8, dtype=torch.float32)
    y = torch.as_tensor(rng.normal(size=(25000, 1)), dtype=torch.float32)
    weight = torch.ones(25000)
    net = AttentionPolynomialNetwork(
        torch.as_tensor(lattice_directions(10, 5)), 5, radius=2.0,
        dtype=torch.float32,
    )  # fmt: skip

    def attention_step():
        net.zero_grad()
        loss, _ = net.weighted_mse_loss(x, y, weight)
        loss.backward()

    X = rng.normal(size=(45000, 10))
    layout = moment_layout(10, 10)

    def moments():
        accumulate(layout, np.zeros(layout.n_moments), X, None)

    torch.manual_seed(0)
    layers = relu_layers(relu_network(10, (4368,)))
    xm, ym = x, y

    def mlp_step():
        for layer in layers:
            layer.zero_grad()
        relu_mse_step(layers, xm, ym)

    return {
        "attention step": attention_step,
        "moments": moments,
        "NN_width step": mlp_step,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sizes", type=float, nargs="+", default=[1, 2, 4, 8, 16, 32])
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = {}
    with threadpool_limits(1):
        runs = passes()
        for run in runs.values():  # warm-up
            run()
        for mib in args.sizes:
            # the moments take their own constant, sized alike here
            _chunks.CHUNK_BYTES = _chunks.MOMENT_CHUNK_BYTES = int(mib * 2**20)
            results[mib] = {
                name: best_of(args.repeats, run) for name, run in runs.items()
            }
    print(f"machine: {platform.machine()}, {platform.processor() or '?'}; 1 thread")
    names = list(runs)
    print("| CHUNK_BYTES | " + " | ".join(f"{n} (s)" for n in names) + " |")
    print("|---:|" + "---:|" * len(names))
    for mib, row in results.items():
        cells = " | ".join(f"{row[n]:.3f}" for n in names)
        print(f"| {mib:g} MiB | {cells} |")
    print(json.dumps({str(k): v for k, v in results.items()}))


if __name__ == "__main__":
    main()
