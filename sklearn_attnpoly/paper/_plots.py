"""The plots of the paper's experiments and of the command line's ``fit``.

The only module that draws. It uses matplotlib's object-oriented API
(:class:`matplotlib.figure.Figure`), which renders to a file without pyplot,
so it neither opens windows nor changes the backend of the process that
imports it. matplotlib is an optional dependency: the ``paper`` extra
(``pip install "sklearn-attnpoly[paper]"``).
"""

import numpy as np

try:
    from matplotlib.figure import Figure
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "The plots of sklearn_attnpoly need matplotlib: "
        'pip install "sklearn-attnpoly[paper]"'
    ) from exc

from .datasets import paper_f1


def _save(fig, path, dpi=120):
    """Lay out ``fig`` and write it to ``path``."""
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)


def plot_demo_mse(rows, path):
    """Grouped bars of test MSE (log scale), one group per task."""
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    fig = Figure(figsize=(5.5 * len(tasks), 4.2))
    axes = fig.subplots(1, len(tasks))
    for ax, task in zip(np.atleast_1d(axes), tasks, strict=True):
        task_rows = [r for r in rows if r["task"] == task]
        names = [r["model"] for r in task_rows]
        ax.bar(names, [r["mse_test"] for r in task_rows], color="tab:blue")
        ax.axhline(1.0, color="k", ls="--", lw=1, label="noise variance")
        ax.set_yscale("log")
        ax.set_title(f"paper's {task}: test MSE")
        ax.set_ylabel("test MSE (log scale)")
        ax.tick_params(axis="x", labelrotation=30)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
            label.set_rotation_mode("anchor")
        ax.legend()
    _save(fig, path)


def plot_f1_profiles(models, path):
    """Each model's prediction of f1 along ``x2 = 0``, beside ``x1^2``."""
    x1 = np.linspace(-30, 30, 301)
    X = np.column_stack([x1, np.zeros_like(x1)])
    fig = Figure(figsize=(6.5, 4.5))
    ax = fig.subplots()
    ax.plot(x1, paper_f1(X), "k", lw=3, alpha=0.4, label="f1* = x1² + x2²")
    for name, est in models.items():
        ax.plot(x1, est.predict(X), label=name)
    ax.set_xlabel("x1 (with x2 = 0)")
    ax.set_ylabel("prediction")
    ax.set_title("f1: fitted functions along a line through the data")
    ax.legend(fontsize=8)
    _save(fig, path)


def plot_f1_surfaces(models, rows, path):
    """Figure 2: each model's fitted function of f1 as a surface."""
    grid = np.linspace(-30, 30, 61)
    G1, G2 = np.meshgrid(grid, grid)
    X = np.column_stack([G1.ravel(), G2.ravel()])
    fig = Figure(figsize=(15, 4.8))
    for i, (name, est) in enumerate(models.items(), start=1):
        ax = fig.add_subplot(1, len(models), i, projection="3d")
        ax.plot_surface(
            G1,
            G2,
            est.predict(X).reshape(G1.shape),
            cmap="viridis",
            linewidth=0,
            antialiased=True,
        )
        ax.set_title(
            f"{name}: test MSE {rows[name]['mse_test']:.3g}\n"
            f"(vs f*: {rows[name]['mse_test_noiseless']:.3g})"
        )
        ax.set_xlabel("x1")
        ax.set_ylabel("x2")
        ax.set_zlabel("prediction")
    fig.suptitle("Fitted functions for f1* = x1² + x2² (paper's Figure 2)")
    _save(fig, path, dpi=110)


def plot_convergence(rows, task, path):
    """Figure 3: training and test MSE against epochs, log scale."""
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    for row, color in zip(rows, ["tab:red", "tab:blue", "tab:green"], strict=False):
        epochs = np.arange(1, len(row["curve_train"]) + 1)
        ax.plot(epochs, row["curve_train"], color=color, label=f"{row['model']} train")
        ax.plot(
            row["curve_test_epochs"],
            row["curve_test"],
            color=color,
            ls="--",
            label=f"{row['model']} test",
        )
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("MSE (log scale)")
    models = (
        "the three models" if len(rows) == 3 else ", ".join(r["model"] for r in rows)
    )
    ax.set_title(f"{task}: convergence of {models} (paper's Figure 3)")
    ax.legend(fontsize=8)
    _save(fig, path)


def plot_predicted_vs_actual(y_true, y_pred, target, path):
    """Predicted against actual values on the test rows, with the diagonal."""
    fig = Figure(figsize=(5, 5))
    ax = fig.subplots()
    ax.scatter(y_true, y_pred, s=8, alpha=0.6)
    low, high = min(y_true.min(), y_pred.min()), max(y_true.max(), y_pred.max())
    ax.plot([low, high], [low, high], "k--", lw=1, label="predicted = actual")
    ax.set_xlabel(f"actual {target}")
    ax.set_ylabel(f"predicted {target}")
    ax.set_title("Test rows: predicted vs actual")
    ax.legend()
    _save(fig, path)
