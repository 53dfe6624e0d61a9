"""What the first fit costs in a fresh process, beyond importing the package.

    python benchmarks/first_fit.py [--repeats 5]

Every measurement is a fresh interpreter (as each joblib worker and each run
of the command line is), one torch and BLAS thread, timed from outside as the
wall time of the whole process:

- ``import``: ``import sklearn_attnpoly``;
- ``import + lstsq fit``: that, then the demo's f1 fit: the paper's f1 data
  (``make_paper_f1``, 10000 rows, 9000 for training as in the demo) and
  ``AttentionPolynomialRegressor(degree=2)`` with the closed-form readout, and
  a prediction of the test rows;
- ``import + an optimizer``: that, then building one torch optimizer, which
  imports ``torch._dynamo`` (what every first fit paid while the lstsq net was
  built with skorch's default optimizer).

It prints the median of each over ``--repeats`` runs, taken in turn, and the
differences: the first fit's cost (target: at most 1 s) and the optimizer's.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

PROLOGUE = """
import torch
torch.set_num_threads(1)
import sklearn_attnpoly
"""

CHILDREN = {
    "import": PROLOGUE,
    "import + lstsq fit": PROLOGUE
    + """
import sys
from sklearn.model_selection import train_test_split
from sklearn_attnpoly.paper.datasets import make_paper_f1
X, y = make_paper_f1(random_state=0)
X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.1, random_state=0)
est = sklearn_attnpoly.AttentionPolynomialRegressor(degree=2).fit(X_tr, y_tr)
est.predict(X_te)
assert "torch._dynamo" not in sys.modules
""",
    "import + an optimizer": PROLOGUE
    + """
torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
""",
}


def wall_time(code):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    wall_time(PROLOGUE)  # files into the page cache
    times = {name: [] for name in CHILDREN}
    for _ in range(args.repeats):
        for name, code in CHILDREN.items():
            times[name].append(wall_time(code))
    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"fresh processes, one thread, median of {args.repeats} (s)")
    for name, values in times.items():
        spread = f"{min(values):.2f}-{max(values):.2f}"
        print(f"  {name:24s} {median[name]:6.2f}   (range {spread})")
    fit = median["import + lstsq fit"] - median["import"]
    optimizer = median["import + an optimizer"] - median["import"]
    print(f"first lstsq fit beyond the import: {fit:.2f} s (target <= 1 s)")
    print(f"what building an optimizer would add: {optimizer:.2f} s")


if __name__ == "__main__":
    main()
