"""The paper's f2 with softmax attention: the error against beta, and its bound.

f2 (10 variables, degree 5) is built with ``from_polynomial`` twice, with the
one-hot maximum and with softmax attention (2002 tokens), at each ``beta``;
the two networks are compared, in the scaled units they compute in, on 10
random points of the guard ball and on the point where ``|G_1|`` is largest
(``boltzmann_validation.largest_first_block_gain``: the error is largest
there). It writes the measured largest error, ``error_bound`` and both
relative to ``max |f2|`` on those points to ``boltzmann_f2_results.json``,
and the plot (log scale) to ``docs/boltzmann_f2_beta.png``.

Usage::

    python benchmarks/boltzmann_f2.py
"""

import json
import os
import time

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from boltzmann_validation import ball_points, largest_first_block_gain  # noqa: E402

from sklearn_attnpoly import AttentionPolynomialRegressor  # noqa: E402
from sklearn_attnpoly.paper.datasets import PAPER_F2  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BETAS = (8, 12, 16, 20, 24, 28, 32, 36, 40)


def main():
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    exact = AttentionPolynomialRegressor.from_polynomial(PAPER_F2).net_.module_
    points = torch.cat(
        [
            torch.as_tensor(ball_points(rng, 10, 10, exact.radius)),
            largest_first_block_gain(exact, rng),
        ]
    )
    with torch.no_grad():
        y = exact(points)
    scale = float(y.abs().max())
    rounding = 2 * float(exact.rounding_error()[0])
    rows = []
    for beta in BETAS:
        softmax = AttentionPolynomialRegressor.from_polynomial(
            PAPER_F2, attention="boltzmann", inverse_temperature=beta
        ).net_.module_
        with torch.no_grad():
            error = (softmax(points) - y).abs()[:, 0]
        row = {
            "beta": beta,
            "measured": float(error.max()),
            "measured_random_points": float(error[:-1].max()),
            "bound": float(softmax.error_bound()[0]),
            "relative_measured": float(error.max()) / scale,
        }
        row["relative_bound"] = row["bound"] / scale
        rows.append(row)
        print(json.dumps(row))
    results = {
        "command": "python benchmarks/boltzmann_f2.py",
        "machine": "development VM, 2 cores",
        "threads": 1,
        "tokens": int(exact.F.shape[0]),
        "max_abs_f2_on_points": scale,
        "rounding_estimate": rounding,
        "seconds": time.perf_counter() - start,
        "rows": rows,
    }
    with open(os.path.join(HERE, "boltzmann_f2_results.json"), "w") as file:
        json.dump(results, file, indent=1)

    finite = [r for r in rows if np.isfinite(r["bound"])]
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    ax.semilogy(
        [r["beta"] for r in finite], [r["relative_bound"] for r in finite], "s--",
        label="certified bound (error_bound_)",
    )  # fmt: skip
    ax.semilogy(
        BETAS, [r["relative_measured"] for r in rows], "o-",
        label="measured: 10 random points and the largest-|G_1| point",
    )  # fmt: skip
    ax.axhline(rounding / scale, color="0.6", lw=0.8, ls=":")
    ax.text(
        BETAS[0], rounding / scale * 2, "rounding estimate of the networks", color="0.4"
    )
    ax.set_xlabel("beta (inverse temperature, in units of each block's gap)")
    ax.set_ylabel("|softmax network - exact network| / max |f2|")
    ax.set_title("f2 (d = 10, q = 5, 2002 tokens) with softmax attention")
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(os.path.join(HERE, "..", "docs", "boltzmann_f2_beta.png"), dpi=110)
    print(f"{results['seconds']:.0f} s")


if __name__ == "__main__":
    main()
