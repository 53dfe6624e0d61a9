"""The paper's experiments (section 5) as runnable comparisons.

:func:`run_demo` compares the attention model with the baselines on f1 and f2
with fast settings. :func:`run_reproduce` runs the paper's protocol: Figure 2
(f1, the fitted surfaces of the three models) and Table 1 with Figure 3 (f2,
errors, epochs to convergence, run time and the convergence curves), each
model in its own run (:func:`fit_paper_model`), in this process or in worker
processes. Both return their results as plain dictionaries and write PNG
plots (:mod:`~sklearn_attnpoly.paper._plots`); the command line prints and
saves them.
"""

import multiprocessing
import sys
import time

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from skorch.callbacks import Callback

from .._one_layer import OneLayerTransformerRegressor
from .._polynomial import evaluate as evaluate_polynomial
from .._regressor import AttentionPolynomialRegressor
from ._baselines import (
    PaperMLPRegressor,
    ParameterSnapshots,
    make_baseline,
    score_snapshots,
)
from ._plots import (
    plot_convergence,
    plot_demo_mse,
    plot_f1_profiles,
    plot_f1_surfaces,
)
from ._protocol import CONVERGENCE_TOL, PAPER_LR, PAPER_TASKS
from .datasets import PAPER_F2, make_paper_f1, make_paper_f2, paper_f1, paper_f2

_TASKS = {"f1": (make_paper_f1, paper_f1), "f2": (make_paper_f2, paper_f2)}


def log(message):
    """One progress line on stderr, so that stdout keeps only the results."""
    print(message, file=sys.stderr, flush=True)


class EpochProgress(Callback):
    """Log the epoch and its training loss every ``every`` epochs.

    The loss is the net's own: on the standardised target for the attention
    model, which standardises internally, and on the target's own scale for
    the paper's networks, which train on the data as given.

    Parameters
    ----------
    label : str
    every : int, default=10
    """

    def __init__(self, label, every=10):
        self.label = label
        self.every = every

    def on_train_begin(self, net, **kwargs):
        self.start_ = time.perf_counter()

    def on_epoch_end(self, net, **kwargs):
        epoch = len(net.history)
        if epoch % self.every == 0 or epoch == net.max_epochs:
            loss = net.history[-1, "train_loss"]
            elapsed = time.perf_counter() - self.start_
            log(
                f"    {self.label}: epoch {epoch}/{net.max_epochs}, "
                f"train loss {loss:.4g} (the net's scale), {elapsed:.0f} s"
            )


def free_parameters(est):
    """Trained entries: ``n d + n q + 1`` for the attention model, weights and
    biases for the networks (the one-layer transformer's included),
    coefficients and intercept for least squares."""
    if isinstance(est, AttentionPolynomialRegressor):
        return est.net_.module_.count_free_parameters()
    if isinstance(est, (PaperMLPRegressor, OneLayerTransformerRegressor)):
        return sum(p.numel() for p in est.net_.module_.parameters())
    if hasattr(est, "regressor_"):  # an MLPRegressor on a standardised target
        mlp = est.regressor_[-1]
        return sum(a.size for a in (*mlp.coefs_, *mlp.intercepts_))
    return est[-1].coef_.size + 1  # PolynomialFeatures + LinearRegression


def convergence_epoch(mse_train, tol=CONVERGENCE_TOL):
    """The first epoch ``e`` (from 1) with ``|mse_train[e] - mse_train[e-1]| < tol``,
    or ``None`` if there is none.

    Examples
    --------
    >>> from sklearn_attnpoly.paper._experiments import convergence_epoch
    >>> convergence_epoch([5.0, 2.0, 1.995, 1.99])
    3
    """
    steps = np.abs(np.diff(mse_train)) < tol
    return int(np.argmax(steps)) + 2 if steps.any() else None


def split_task(task, n_samples, seed):
    """The paper's data for ``task``, split 90 / 10 at random as in section 5.

    Returns ``X_train, X_test, y_train, y_test, f_test``, ``f_test`` the
    noiseless target on the test rows.
    """
    make, target = _TASKS[task]
    X, y = make(n_samples=n_samples, random_state=seed)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.1, random_state=seed)
    return X_tr, X_te, y_tr, y_te, target(X_te)


def evaluate(name, est, data, *, n_directions=None, label=None):
    """Fit ``est`` on the training rows, time it and score it.

    ``mse_test`` is against the noisy test targets, ``mse_test_noiseless``
    against ``f*`` on the test inputs. ``label`` names the run in the
    progress lines (default: ``name``).
    """
    X_tr, X_te, y_tr, y_te, f_te = data
    label = label or name
    log(f"  fitting {label} ...")
    start = time.perf_counter()
    est.fit(X_tr, y_tr)
    fit_time = time.perf_counter() - start
    pred_te = est.predict(X_te)
    row = {
        "model": name,
        # learned directions: as many as the fit chose
        "n_directions": n_directions or getattr(est, "n_directions_", None),
        "free_parameters": int(free_parameters(est)),
        "fit_time_s": round(fit_time, 2),
        "mse_train": float(np.mean((est.predict(X_tr) - y_tr) ** 2)),
        "mse_test": float(np.mean((pred_te - y_te) ** 2)),
        "mse_test_noiseless": float(np.mean((pred_te - f_te) ** 2)),
    }
    log(f"  {label}: test MSE {row['mse_test']:.4g}, {fit_time:.1f} s")
    return row


def markdown_table(rows, columns):
    """``rows`` (dicts) as a Markdown table of ``columns`` (key, header) pairs."""
    lines = [
        "| " + " | ".join(header for _, header in columns) + " |",
        "|" + "|".join(" --- " for _ in columns) + "|",
    ]
    for row in rows:
        cells = [_format(row.get(key)) for key, _ in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _format(value):
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.3e}"
    return str(value)


# -- demo ---------------------------------------------------------------------


def exact_f2_check(n_points=2000, radius=5.0, seed=0, out=sys.stdout):
    """Build the exact network of f2 and measure its error on random points.

    Returns the largest error relative to the largest ``|f2|`` on the points.
    """
    start = time.perf_counter()
    est = AttentionPolynomialRegressor.from_polynomial(PAPER_F2, radius=radius)
    built = time.perf_counter() - start
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_points, 10))
    X *= (
        radius
        * rng.uniform(size=(n_points, 1)) ** 0.1
        / np.linalg.norm(X, axis=1, keepdims=True)
    )
    y_true = evaluate_polynomial(PAPER_F2, X)
    y_pred = est.predict(X)
    module = est.net_.module_
    error = np.abs(y_pred - y_true)
    print(
        "Exact network for the paper's f2 (d = 10, q = 5), built from its coefficients",
        file=out,
    )
    print(
        f"  directions n = {est.n_directions_}, blocks q = {est.degree}, "
        f"free parameters {module.count_free_parameters()}, built in {built:.1f} s",
        file=out,
    )
    print(f"  {n_points} random points with ||x|| <= {radius:g}:", file=out)
    print(
        f"  max |C(x) - f2(x)| = {error.max():.3e}   "
        f"relative to max |f2| = {error.max() / np.abs(y_true).max():.3e}",
        file=out,
    )
    return error.max() / np.abs(y_true).max()


#: Fast settings of ``demo``: rows drawn per task, and epochs of the networks
#: trained by the paper's protocol. f1 gets the paper's full data and budget,
#: since fewer steps leave the networks far from where the paper's protocol
#: takes them (the results page, The demo, gives the errors).
DEMO_SETTINGS = {
    "f1": {
        "n_samples": PAPER_TASKS["f1"]["n_samples"],
        "epochs": PAPER_TASKS["f1"]["max_epochs"],
    },
    "f2": {"n_samples": 12000, "epochs": 3},
}

#: The one-layer transformer's budget in ``demo``: 40 epochs of Adam in
#: batches of 512, on all rows (no early stopping, which its defaults turn on
#: at these sizes).
DEMO_TRANSFORMER = {"batch_size": 512, "max_epochs": 40, "early_stopping": False}

DEMO_COLUMNS = [
    ("task", "task"),
    ("model", "model"),
    ("n_directions", "n"),
    ("free_parameters", "free params"),
    ("fit_time_s", "fit time (s)"),
    ("mse_test", "test MSE"),
    ("mse_test_noiseless", "test MSE vs f*"),
]


def demo_models(task, epochs, seed):
    """``{name: (estimator, n_directions)}`` compared by ``demo`` on ``task``.

    The attention model uses the ``C(d - 1 + q, q)`` lattice directions of
    Lemma 3.3 and the closed-form readout, and, self-tuned, learned directions
    (``solver="varpro"`` with its defaults); the networks have the paper's
    layers and its protocol, cut to ``epochs`` epochs; the one-layer
    transformer has its defaults (rank 1) and the budget of
    :data:`DEMO_TRANSFORMER`.
    """
    spec = PAPER_TASKS[task]
    return {
        "ATTENTION (lstsq)": (
            AttentionPolynomialRegressor(spec["degree"]),
            spec["n_lattice"],
        ),
        # its directions, number and ridge chosen on the data
        "ATTENTION (varpro)": (
            AttentionPolynomialRegressor(
                spec["degree"], solver="varpro", random_state=seed
            ),
            None,
        ),
        "NN_width": (
            make_baseline("nn_width", task, max_epochs=epochs, random_state=seed),
            spec["nn_width"][0],
        ),
        "NN_depth": (
            make_baseline("nn_depth", task, max_epochs=epochs, random_state=seed),
            None,
        ),
        "MLPRegressor()": (make_baseline("mlp_default", task, random_state=seed), None),
        "1-layer transformer": (
            OneLayerTransformerRegressor(random_state=seed, **DEMO_TRANSFORMER),
            None,
        ),
        "PF+LR": (make_baseline("poly_lr", task), None),
    }


def run_demo(out, *, seed=0, settings=None):
    """Fit every model of :func:`demo_models` on f1 and f2; plot to ``out``.

    ``settings`` defaults to :data:`DEMO_SETTINGS`.

    Returns
    -------
    rows : list of dict
        One per task and model; see :func:`evaluate`.
    """
    rows = []
    profiles = {}
    for task, setting in (settings or DEMO_SETTINGS).items():
        log(
            f"{task}: {setting['n_samples']} samples, networks "
            f"{setting['epochs']} epochs"
        )
        data = split_task(task, setting["n_samples"], seed)
        for name, (est, n) in demo_models(task, setting["epochs"], seed).items():
            rows.append({"task": task, **evaluate(name, est, data, n_directions=n)})
            if task == "f1":
                profiles[name] = est
    out.mkdir(parents=True, exist_ok=True)
    plot_demo_mse(rows, out / "demo_test_mse.png")
    plot_f1_profiles(profiles, out / "demo_f1_profiles.png")
    return rows


# -- reproduce ----------------------------------------------------------------

#: The paper's protocol (section 5), and the smoke-test settings of ``--quick``.
REPRODUCE_SETTINGS = {
    "full": {
        task: {
            "n_samples": spec["n_samples"],
            "epochs": spec["max_epochs"],
            "batch_size": spec["batch_size"],
            "n_directions": spec["n_directions"],
        }
        for task, spec in PAPER_TASKS.items()
    },
    # f1 keeps the paper's 1200 gradient steps (300 epochs of 4 batches): the
    # networks need about that many at the paper's learning rate, and on 1800
    # rows they take a few seconds
    "quick": {
        "f1": {"n_samples": 2000, "epochs": 300, "batch_size": 500, "n_directions": 10},
        "f2": {"n_samples": 2000, "epochs": 5, "batch_size": 500, "n_directions": 20},
    },
}

TABLE_1_COLUMNS = [
    ("model", "model"),
    ("n_directions", "n"),
    ("free_parameters", "free params"),
    ("mse_train", "MSE_Tr"),
    ("mse_test", "MSE_Te"),
    ("mse_test_noiseless", "MSE_Te vs f*"),
    ("epochs", "epochs run"),
    ("epochs_to_convergence", "epochs to converge (ΔMSE_Tr < 0.01)"),
    ("fit_time_s", "run time (s)"),
]


#: The paper's three models, in the order of its Table 1.
PAPER_MODELS = ("ATTENTION", "NN_depth", "NN_width")


def paper_models(task, setting, *, readout_init, seed, snapshot_every):
    """``{name: (estimator, n_directions)}``: the paper's three models on
    ``task``, all trained by its protocol with ``setting``'s budget."""
    spec = PAPER_TASKS[task]
    n = setting["n_directions"]
    callbacks = [ParameterSnapshots(every=snapshot_every)]

    def progress(name):
        return [*callbacks, EpochProgress(f"{task} {name}", every=snapshot_every)]

    # From a zero readout, the paper's own setting: the data as given, the
    # blocks built for the training rows' radius (headroom 1, which keeps the
    # blocks' rounding within float32's tolerance at f2's degree 5). From the
    # least-squares readout, the estimator's scaled units.
    faithful = readout_init == "zeros"
    attention = AttentionPolynomialRegressor(
        spec["degree"],
        n_directions=n,
        solver="sgd",
        lr=PAPER_LR,
        max_epochs=setting["epochs"],
        batch_size=setting["batch_size"],
        readout_init=readout_init,
        scaling="none" if faithful else "ball",
        headroom=1.0 if faithful else 2.0,
        # the paper trains in PyTorch's default precision
        dtype="float32",
        callbacks=progress("ATTENTION"),
        random_state=seed,
    )
    if n is None:
        n = spec["n_lattice"]
    kwargs = {
        "max_epochs": setting["epochs"],
        "batch_size": setting["batch_size"],
        "random_state": seed,
    }
    return {
        "ATTENTION": (attention, n),
        "NN_depth": (
            make_baseline("nn_depth", task, callbacks=progress("NN_depth"), **kwargs),
            None,
        ),
        "NN_width": (
            make_baseline("nn_width", task, callbacks=progress("NN_width"), **kwargs),
            spec["nn_width"][0],
        ),
    }


def reproduce_runs(settings, models=PAPER_MODELS):
    """The ``(task, model)`` runs of ``reproduce``, in the order they start.

    The longest first (f2 before f1; at f2's shape the attention model, then
    NN_width, then NN_depth), so that parallel workers finish close together.
    ``models`` keeps only those of the paper's models.
    """
    order = {"f2": 0, "f1": 1}
    tasks = sorted(settings, key=lambda task: order.get(task, 2))
    return [
        (t, m)
        for t in tasks
        for m in ("ATTENTION", "NN_width", "NN_depth")
        if m in models
    ]


def fit_paper_model(task, name, setting, readout_init, seed):
    """Fit and score one of the paper's models on ``task``, by its protocol.

    Builds the data from ``seed`` itself, so that it can run in a worker
    process that only gets these arguments.

    Returns
    -------
    task, name : str
    row : dict
        As in :func:`evaluate`, with the curves of :func:`training_curves`.
    est : estimator
        The fitted model.
    """
    data = split_task(task, setting["n_samples"], seed)
    every = max(1, setting["epochs"] // 100)
    models = paper_models(
        task, setting, readout_init=readout_init, seed=seed, snapshot_every=every
    )
    est, n = models[name]
    row = evaluate(name, est, data, n_directions=n, label=f"{task} {name}")
    return task, name, row | training_curves(est, data), est


def _fit_paper_model(args):
    return fit_paper_model(*args)


def _init_worker(threads):
    torch.set_num_threads(threads)


def run_reproduce(
    out,
    *,
    settings,
    readout_init="lstsq",
    seed=0,
    n_jobs=1,
    worker_threads=1,
    on_result=None,
    models=PAPER_MODELS,
):
    """Figure 2 (f1) and Table 1 with Figure 3 (f2), by the paper's protocol.

    Parameters
    ----------
    out : pathlib.Path
        Folder for the PNGs.
    settings : dict
        ``{"f1": {...}, "f2": {...}}`` as in :data:`REPRODUCE_SETTINGS`.
    readout_init : {"lstsq", "zeros"}, default="lstsq"
        Start of the attention model's readout.
    seed : int, default=0
    n_jobs : int, default=1
        Runs at once. With 1, every model is fitted in this process, one
        after the other; otherwise each run goes to one of ``n_jobs`` worker
        processes (started fresh, "spawn"), in the order of
        :func:`reproduce_runs`. Every run is seeded by ``seed`` alone, so the
        results do not depend on ``n_jobs`` (given the same torch threads).
    worker_threads : int, default=1
        torch threads of each worker process (``n_jobs > 1``).
    on_result : callable, default=None
        Called with the results so far (as returned) after each run.
    models : sequence of str, default=PAPER_MODELS
        The paper's models to run (``"ATTENTION"``, ``"NN_depth"``,
        ``"NN_width"``).

    Returns
    -------
    dict
        ``{"f1": rows, "f2": rows}``, rows in the order of
        :data:`PAPER_MODELS`; each row as in :func:`evaluate`, with the epochs
        run, the epochs to convergence, and the training and test curves.
    """
    out.mkdir(parents=True, exist_ok=True)
    runs = reproduce_runs(settings, models)
    jobs = [(task, name, settings[task], readout_init, seed) for task, name in runs]
    rows, fitted = {}, {}

    def ordered():
        return {
            task: [rows[task, m] for m in PAPER_MODELS if (task, m) in rows]
            for task in settings
        }

    def collect(task, name, row, est):
        rows[task, name], fitted[task, name] = row, est
        log(f"  {task} {name} done ({len(rows)} of {len(runs)} runs)")
        if on_result is not None:
            on_result(ordered())

    for task, setting in settings.items():
        log(
            f"{task}: {setting['n_samples']} samples, {setting['epochs']} epochs "
            f"of batch {setting['batch_size']}"
        )
    if n_jobs == 1:
        for job in jobs:
            collect(*fit_paper_model(*job))
    else:
        log(
            f"{len(runs)} runs on {n_jobs} worker processes of {worker_threads} "
            "torch thread(s) each"
        )
        context = multiprocessing.get_context("spawn")
        # leaving the block terminates the workers, also on an error or Ctrl-C
        with context.Pool(n_jobs, _init_worker, (worker_threads,)) as pool:
            for result in pool.imap_unordered(_fit_paper_model, jobs):
                collect(*result)
    results = ordered()
    if "f1" in settings:
        plot_f1_surfaces(
            {m: fitted["f1", m] for m in PAPER_MODELS if ("f1", m) in fitted},
            {r["model"]: r for r in results["f1"]},
            out / "figure2_f1_surfaces.png",
        )
    for task, task_rows in results.items():
        plot_convergence(task_rows, task, out / f"figure3_{task}_convergence.png")
    return results


def training_curves(est, data):
    """Per-epoch training MSE (in the target's units) and the test MSE at the
    snapshot epochs, with the epochs to convergence by the paper's rule."""
    _, X_te, y_tr, y_te, _ = data
    # the loss curves are on the target as the net saw it: the attention model
    # standardises by the training target's weighted standard deviation, a
    # PaperMLPRegressor only if asked (y_scale_ is 1 otherwise)
    scale = (
        est.target_scaling_.scale[0]
        if isinstance(est, AttentionPolynomialRegressor)
        else est.y_scale_
    )
    mse_train = [loss * scale**2 for loss in est.loss_curve_]
    epochs, mse_test = score_snapshots(est, X_te, y_te)
    return {
        "epochs": est.n_iter_,
        "epochs_to_convergence": convergence_epoch(mse_train),
        "curve_train": mse_train,
        "curve_test_epochs": epochs,
        "curve_test": mse_test,
    }
