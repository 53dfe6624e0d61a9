"""Training step of the paper's networks: chunked (ChunkedMLPNet) vs skorch's.

For NN_width and NN_depth at f2's shape (10 inputs, batch 25000, float32), it
times one full skorch ``train_step`` (gradient, clipping, SGD update) of
:class:`~sklearn_attnpoly._mlp_step.ChunkedMLPNet` and of a plain
:class:`skorch.NeuralNetRegressor` on the same module, in the same run, and
prints the ratio and the paper's 4000 steps at each speed.

    python benchmarks/mlp_step.py --threads 1
"""

import argparse
import copy
import time

import numpy as np
import torch
from skorch import NeuralNetRegressor

from sklearn_attnpoly._solvers._skorch import one_cycle_schedule
from sklearn_attnpoly.paper._baselines import relu_network
from sklearn_attnpoly.paper._mlp_step import ChunkedMLPNet
from sklearn_attnpoly.paper._protocol import PAPER_TASKS


def step_time(net_class, module, X, y, repeats):
    """Median seconds of one training step of ``net_class`` on ``(X, y)``."""
    steps = repeats + 1
    net = net_class(
        copy.deepcopy(module),
        optimizer=torch.optim.SGD,
        lr=1e-3,
        max_epochs=1,
        batch_size=len(X),
        train_split=None,
        callbacks=one_cycle_schedule(1e-3, steps, clip_norm=5.0),
        verbose=0,
    ).initialize()
    net.notify("on_train_begin", X=X, y=y)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        net.train_step((X, y))
        times.append(time.perf_counter() - start)
    return float(np.median(times[1:]))  # the first step warms up


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    spec = PAPER_TASKS["f2"]
    # the paper's f2 budget: 45000 training rows, so 2 batches per epoch
    total_steps = spec["max_epochs"] * -(-45000 // spec["batch_size"])
    rng = np.random.default_rng(0)
    X = torch.from_numpy(rng.normal(size=(spec["batch_size"], 10)).astype(np.float32))
    y = torch.from_numpy(rng.normal(size=(spec["batch_size"], 1)).astype(np.float32))
    print(f"torch threads: {args.threads}; f2 batch {len(X)} x 10, float32")
    print(
        "| network | skorch step (s) | chunked step (s) | speed-up | "
        f"{total_steps} steps, skorch | {total_steps} steps, chunked |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for name in ("nn_width", "nn_depth"):
        torch.manual_seed(0)
        module = relu_network(10, spec[name])
        plain = step_time(NeuralNetRegressor, module, X, y, args.repeats)
        fast = step_time(ChunkedMLPNet, module, X, y, args.repeats)
        minutes = [t * total_steps / 60 for t in (plain, fast)]
        print(
            f"| {name} {spec[name]} | {plain:.3f} | {fast:.3f} | {plain / fast:.1f}x "
            f"| {minutes[0]:.1f} min | {minutes[1]:.1f} min |"
        )


if __name__ == "__main__":
    main()
