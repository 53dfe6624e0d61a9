"""OneLayerTransformerRegressor on the paper's f2: memorising is not
generalising.

2000 training and 2000 test rows of f2 (noise of variance 1); the one-layer
transformer (its defaults: rank 1, width 16, 500 full-batch epochs), an
``MLPRegressor`` with about as many parameters, and the degree-5 attention
polynomial (closed form). Prints train and test R^2 and fit time, one thread,
and writes ``one_layer_results.json``.

Usage::

    python benchmarks/one_layer.py
"""

import json
import os
import time

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import torch  # noqa: E402
from sklearn.neural_network import MLPRegressor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from sklearn_attnpoly import (  # noqa: E402
    AttentionPolynomialRegressor,
    OneLayerTransformerRegressor,
)
from sklearn_attnpoly.paper.datasets import make_paper_f2  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    torch.set_num_threads(1)
    X, y = make_paper_f2(n_samples=4000, random_state=0)
    X_train, X_test, y_train, y_test = X[:2000], X[2000:], y[:2000], y[2000:]
    transformer = OneLayerTransformerRegressor(random_state=0)
    models = {
        "one-layer transformer (rank 1, width 16)": transformer,
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
        start = time.perf_counter()
        est.fit(X_train, y_train)
        row = {
            "model": name,
            "fit_seconds": time.perf_counter() - start,
            "train_r2": est.score(X_train, y_train),
            "test_r2": est.score(X_test, y_test),
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
    with open(os.path.join(HERE, "one_layer_results.json"), "w") as file:
        json.dump({"command": "python benchmarks/one_layer.py", "threads": 1,
                   "rows": rows}, file, indent=1)  # fmt: skip


if __name__ == "__main__":
    main()
