"""The gradient solvers' step size, measured from both starts.

Two questions decide the default ``lr`` of ``solver="sgd"`` and ``"adam"``:

1. From the closed-form start (``readout_init="lstsq"``, the default), does
   the run raise the training loss? Measured on scikit-learn's own check data
   (``check_regressors_train``: 200 rows, 10 features, ``alpha=0.01``), in
   float32 and float64, with the checks' short budget (3 epochs) and the
   default one (100), without the end-of-run restore of the best parameters
   (``raw``) and with it (what ``fit`` returns).
2. From a zero readout (the paper's protocol), does it still learn? Test MSE
   against the noiseless paper f1 (5000 rows, 10 random directions, 30 epochs
   of batch 256).

Run: ``python benchmarks/gradient_start.py`` (one thread; about a minute).
"""

import json
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.preprocessing import scale
from sklearn.utils.estimator_checks import _regression_dataset

from sklearn_attnpoly import AttentionPolynomialRegressor
from sklearn_attnpoly.paper.datasets import make_paper_f1

LRS = (0.1, 0.03, 0.01)


def check_data_runs():
    X, y = _regression_dataset()
    y = scale(y)
    rows = []
    for dtype in ("float32", "float64"):
        Xd = X.astype(dtype)
        for solver in ("sgd", "adam"):
            for lr in LRS:
                for epochs in (3, 100):
                    est = AttentionPolynomialRegressor(
                        solver=solver,
                        lr=lr,
                        max_epochs=epochs,
                        alpha=0.01,
                        dtype=dtype,
                        random_state=0,
                    )
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always")
                        est.fit(Xd, y)
                    keep = dict(est.net_.callbacks_)["keep_best"]
                    rows.append(
                        {
                            "dtype": dtype,
                            "solver": solver,
                            "lr": lr,
                            "epochs": epochs,
                            "last_epoch_loss": est.loss_curve_[-1],
                            "kept_epoch": keep.best_epoch_,
                            "r2": est.score(Xd, y),
                            "warnings": len(caught),
                        }
                    )
    return rows


def f1_runs():
    X, y = make_paper_f1(n_samples=5000, random_state=0)
    X_test, y_test = make_paper_f1(n_samples=2000, noise=0.0, random_state=1)
    rows = []
    for init in ("zeros", "lstsq"):
        for solver in ("sgd", "adam"):
            for lr in LRS:
                est = AttentionPolynomialRegressor(
                    2,
                    n_directions=10,
                    solver=solver,
                    lr=lr,
                    max_epochs=30,
                    readout_init=init,
                    random_state=0,
                ).fit(X, y)
                mse = float(np.mean((est.predict(X_test) - y_test) ** 2))
                rows.append(
                    {"readout_init": init, "solver": solver, "lr": lr, "test_mse": mse}
                )
    return rows


def main():
    torch.set_num_threads(1)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        result = {"check_data": check_data_runs(), "f1": f1_runs()}
    print("check data (R^2 of the fitted model; kept epoch 0 = the start)")
    for r in result["check_data"]:
        print(
            f"  {r['dtype']} {r['solver']:4s} lr={r['lr']:<5g} "
            f"epochs={r['epochs']:3d} "
            f"last epoch loss {r['last_epoch_loss']:.3g} "
            f"kept epoch {r['kept_epoch']:3d} "
            f"R2 {r['r2']:.4f} warnings {r['warnings']}"
        )
    print("paper f1, 30 epochs: test MSE against the noiseless target")
    for r in result["f1"]:
        print(
            f"  from {r['readout_init']:5s} {r['solver']:4s} lr={r['lr']:<5g} "
            f"{r['test_mse']:.3g}"
        )
    out = Path(__file__).with_name("gradient_start_results.json")
    out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
