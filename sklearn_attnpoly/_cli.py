"""Command line of sklearn-attnpoly.

demo       compare the attention model with its baselines on the paper's
           f1 and f2 (fast settings), and check the exact f2 network
reproduce  the paper's protocol: Table 1 and Figures 2 and 3
fit        fit a CSV file: metrics, the recovered polynomial, a saved model
"""

import argparse
import csv
import importlib.util
import json
import math
import os
import sys
import time
from pathlib import Path

import joblib
import numpy as np
import torch

from ._regressor import AttentionPolynomialRegressor
from ._regressor_cv import AttentionPolynomialRegressorCV

__all__ = ["main"]


class InputError(Exception):
    """A problem with the user's input, reported as one line and exit code 2."""


#: ``fit`` refuses a degree whose least-squares readout has more power features
#: than this: the readout solves a dense ``p x p`` system, 3.2 GB at this
#: ``p``, and choosing the directions alone takes minutes before that. Degree 6
#: on 10 columns has 8007 power features; degree 7 on 10 columns 19447.
MAX_POWER_FEATURES = 20000


def check_degree_size(degree, n_features):
    """Raise :class:`InputError` if degree ``degree`` on ``n_features`` columns
    needs more than :data:`MAX_POWER_FEATURES` power features.

    The readout has one coefficient per monomial of degree 1 to ``q`` in ``d``
    variables: ``C(d + q, q) - 1`` of them.
    """
    p = math.comb(n_features + degree, degree) - 1
    if p > MAX_POWER_FEATURES:
        raise InputError(
            f"--degree {degree} on {n_features} feature columns needs {p} power "
            f"features (C(d + q, q) - 1), more than the {MAX_POWER_FEATURES} "
            f"this command fits (a {8 * p**2 / 1e9:.3g} GB system); choose a "
            "smaller --degree."
        )


def _whole_number(minimum):
    """An argparse ``type``: an integer of at least ``minimum``."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a whole number"
            ) from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}; got {value}")
        return value

    parse.__name__ = f"whole number >= {minimum}"
    return parse


def _non_negative_number(text):
    """An argparse ``type``: a finite number of at least 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0; got {text}")
    return value


_non_negative_number.__name__ = "number >= 0"


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, like the command's
    own errors (:class:`InputError`); ``--help`` still shows the usage."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _demo(args):
    from .paper._experiments import (
        DEMO_COLUMNS,
        exact_f2_check,
        markdown_table,
        run_demo,
    )

    start = time.perf_counter()
    exact_f2_check()
    print()
    rows = run_demo(args.out, seed=args.seed)
    print(
        "Test MSE of each model (noise variance 1; 'vs f*' against the noiseless "
        "target)"
    )
    print(markdown_table(rows, DEMO_COLUMNS))
    print(f"\nPlots in {args.out}/; total {time.perf_counter() - start:.0f} s.")
    return 0


def available_cpus():
    """CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _reproduce(args):
    from .paper._experiments import (
        REPRODUCE_SETTINGS,
        TABLE_1_COLUMNS,
        markdown_table,
        reproduce_runs,
        run_reproduce,
    )

    settings = REPRODUCE_SETTINGS["quick" if args.quick else "full"]
    settings = {task: dict(settings[task]) for task in args.tasks}
    for task in args.tasks:
        for key in ("epochs", "batch_size", "n_directions", "n_samples"):
            value = getattr(args, f"{task}_{key}")
            if value is not None:
                settings[task][key] = value
    n_runs = len(reproduce_runs(settings, args.models))
    cpus = available_cpus()
    n_jobs = min(args.jobs or cpus, n_runs)
    if n_jobs > 1:
        threads = args.threads or max(1, cpus // n_jobs)
    else:
        threads = torch.get_num_threads()
    command = "sklearn-attnpoly " + " ".join(args.argv)
    start = time.perf_counter()

    def save(results, complete=False):
        report = {
            "command": command,
            "complete": complete,
            "settings": settings,
            "readout_init": args.readout_init,
            "models": list(args.models),
            "seed": args.seed,
            "jobs": n_jobs,
            "torch_threads": threads,
            "total_time_s": round(time.perf_counter() - start, 1),
            "results": results,
        }
        # written after every run, so that a long run cut short keeps its rows
        (args.out / "results.json").write_text(json.dumps(report, indent=2))
        return report

    results = run_reproduce(
        args.out,
        settings=settings,
        readout_init=args.readout_init,
        seed=args.seed,
        n_jobs=n_jobs,
        worker_threads=threads,
        on_result=save,
        models=args.models,
    )
    report = save(results, complete=True)
    text = [f"# Reproduction ({command})", ""]
    for task in results:
        s = settings[task]
        text += [
            f"## {task}: {s['n_samples']} samples, {s['epochs']} epochs of "
            f"batch {s['batch_size']}",
            "",
            markdown_table(results[task], TABLE_1_COLUMNS),
            "",
        ]
    runs = "run" if n_jobs == 1 else "runs"
    text.append(
        f"Total time {report['total_time_s']:.0f} s, {n_jobs} {runs} at a time, "
        f"{threads} torch thread(s) each."
    )
    (args.out / "table1.md").write_text("\n".join(text) + "\n")
    print("\n".join(text))
    print(f"\nresults.json, table1.md and plots in {args.out}/")
    return 0


def read_csv(path, target):
    """Numeric columns of a CSV file with a header row.

    A first column whose header is empty is a saved row index (what
    ``pandas.DataFrame.to_csv`` writes by default): it is left out, with a
    note on stderr.

    Returns
    -------
    X : ndarray of shape (n_rows, n_columns - 1)
    y : ndarray of shape (n_rows,)
    features : list of str
        The header of ``X``'s columns.

    Raises
    ------
    InputError
        If the file cannot be read, ``target`` is not a column, another header
        is empty, a row has the wrong number of fields or a field is not a
        number.
    """
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from exc
    if not rows:
        raise InputError(f"{path} is empty.")
    header = [name.strip() for name in rows[0]]
    first = 0
    if len(header) > 1 and header[0] == "":
        first = 1
        print(
            f"sklearn-attnpoly fit: note: the first column of {path} has no "
            "header (a saved row index?); it is left out.",
            file=sys.stderr,
        )
    header = header[first:]
    if "" in header:
        raise InputError(
            f"{path}: column {header.index('') + first + 1} of the header has no name."
        )
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise InputError(
            f"{path}: the header names a column more than once: {', '.join(repeated)}."
        )
    if target not in header:
        raise InputError(
            f"column {target!r} is not in {path}; its columns are: {', '.join(header)}."
        )
    if len(rows) < 2:
        raise InputError(f"{path} has a header but no data rows.")
    values = np.empty((len(rows) - 1, len(header)))
    for i, row in enumerate(rows[1:]):
        line = i + 2
        if len(row) != len(header) + first:
            raise InputError(
                f"{path}, line {line}: {len(row)} fields, but the "
                f"header has {len(header) + first}."
            )
        for j, field in enumerate(row[first:]):
            try:
                values[i, j] = float(field)
            except ValueError:
                raise InputError(
                    f"{path}, line {line}, column {header[j]!r}: "
                    f"{field!r} is not a number."
                ) from None
            if not np.isfinite(values[i, j]):
                raise InputError(
                    f"{path}, line {line}, column {header[j]!r}: "
                    f"{field!r} is not a finite number."
                )
    k = header.index(target)
    return np.delete(values, k, axis=1), values[:, k], header[:k] + header[k + 1 :]


def check_output_path(path, option):
    """Raise :class:`InputError` before fitting if ``path`` cannot be written:
    its folder is missing, or it is a folder itself."""
    if path is None:
        return
    if path.is_dir():
        raise InputError(f"{option} {path}: is a folder; give a file name.")
    if not path.parent.is_dir():
        raise InputError(f"{option} {path}: the folder {path.parent} does not exist.")


def named_columns(X, features):
    """``X`` as a pandas DataFrame with the CSV's column names, so that the
    fitted model records them (``feature_names_in_``); ``X`` itself where
    pandas is not installed."""
    try:
        import pandas as pd
    except ImportError:
        return X
    return pd.DataFrame(X, columns=features)


def format_term(exponents, coefficient, features):
    """``-3 * x1 * x2^2``-style text for one monomial."""
    factors = [
        name if power == 1 else f"{name}^{power}"
        for name, power in zip(features, exponents, strict=True)
        if power
    ]
    return " * ".join([f"{coefficient:.6g}", *factors])


def _fit(args):
    from sklearn.metrics import mean_squared_error, r2_score
    from sklearn.model_selection import train_test_split

    check_output_path(args.save, "--save")
    check_output_path(args.plot, "--plot")
    if args.plot is not None and importlib.util.find_spec("matplotlib") is None:
        raise InputError(
            "--plot needs matplotlib: pip install 'sklearn-attnpoly[paper]'."
        )
    X, y, features = read_csv(args.data, args.target)
    check_degree_size(args.degree, X.shape[1])
    if len(X) < 2:
        raise InputError(
            f"{args.data} needs at least 2 data rows to split; it has {len(X)}."
        )
    try:
        X_tr, X_te, y_tr, y_te = train_test_split(
            named_columns(X, features),
            y,
            test_size=args.test_size,
            random_state=args.seed,
        )
    except ValueError as exc:
        raise InputError(f"cannot split {args.data}: {exc}") from exc
    if isinstance(X_tr, np.ndarray) and args.save is not None:
        print(
            "sklearn-attnpoly fit: note: without pandas the saved model does "
            "not record the CSV's column names.",
            file=sys.stderr,
        )
    if args.cv is not None and args.solver != "lstsq":
        raise InputError("--cv chooses the lstsq readout's degree and alpha; "
                         f"it needs --solver lstsq, not {args.solver}.")  # fmt: skip
    est = AttentionPolynomialRegressor(
        args.degree,
        solver=args.solver,
        alpha=args.alpha,
        max_epochs=args.max_epochs,
        random_state=args.seed,
    )
    if args.cv is not None:
        degrees = tuple(range(1, args.degree + 1))
        est = AttentionPolynomialRegressorCV(degrees=degrees, cv=args.cv)
    start = time.perf_counter()
    try:
        est.fit(X_tr, y_tr)
    except (ValueError, FloatingPointError) as exc:
        raise InputError(f"could not fit {args.data}: {exc}") from exc
    except MemoryError:
        raise InputError(
            f"not enough memory to fit degree {args.degree} on {X.shape[1]} "
            f"feature columns and {len(X_tr)} rows; choose a smaller --degree."
        ) from None
    fit_time = time.perf_counter() - start
    model = getattr(est, "best_estimator_", est)
    print(
        f"Fitted degree {model.degree} ({args.solver}) on {len(X_tr)} rows in "
        f"{fit_time:.1f} s; n = {model.n_directions_} directions, "
        f"{model.net_.module_.count_free_parameters()} free parameters."
    )
    if args.cv is not None:
        print(
            f"  chosen by {est.n_splits_}-fold cross-validation over degrees 1 "
            f"to {args.degree} and alphas {list(est.alphas)}: degree "
            f"{est.degree_}, alpha {est.alpha_:g} (mean R^2 {est.best_score_:.6g})"
        )
    pred_te = est.predict(X_te)
    for name, y_part, pred in (
        ("train", y_tr, est.predict(X_tr)),
        ("test", y_te, pred_te),
    ):
        mse, r2 = mean_squared_error(y_part, pred), r2_score(y_part, pred)
        print(f"  {name:5s} ({len(y_part)} rows): MSE {mse:.6g}   R^2 {r2:.6g}")
    terms = sorted(est.to_polynomial().items(), key=lambda kv: -abs(kv[1]))
    print(f"Largest terms of the fitted polynomial ({args.target} =):")
    for exponents, coefficient in terms[: args.terms]:
        print(f"  {format_term(exponents, coefficient, features)}")
    if args.save is not None:
        joblib.dump(est, args.save)
        print(f"Model saved to {args.save}")
    if args.plot is not None:
        from .paper._plots import plot_predicted_vs_actual

        plot_predicted_vs_actual(y_te, pred_te, args.target, args.plot)
        print(f"Plot saved to {args.plot}")
    return 0


def build_parser():
    parser = _Parser(
        prog="sklearn-attnpoly",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--threads",
        type=_whole_number(1),
        default=None,
        help="torch CPU threads (default: torch's choice); 1 is "
        "much faster on a busy machine",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="compare with the baselines on f1 and f2")
    _add_out_and_seed(demo, "attnpoly-demo", "the plots")
    demo.set_defaults(run=_demo)

    rep = sub.add_parser("reproduce", help="the paper's Table 1 and Figures 2, 3")
    _add_out_and_seed(rep, "attnpoly-reproduce", "JSON, Markdown and plots")
    rep.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run of under a minute, not the paper's budget",
    )
    rep.add_argument(
        "--tasks",
        nargs="+",
        choices=("f1", "f2"),
        default=["f1", "f2"],
        help="which experiments to run (default: both)",
    )
    rep.add_argument(
        "--jobs",
        type=_whole_number(1),
        default=None,
        help="models trained at once, each in its own process (default: the "
        "CPUs available, at most the number of runs); with more than one, each "
        "process gets --threads torch threads, by default CPUs / jobs",
    )
    rep.add_argument(
        "--models",
        nargs="+",
        choices=("ATTENTION", "NN_depth", "NN_width"),
        default=("ATTENTION", "NN_depth", "NN_width"),
        help="the paper's models to run (default: all three)",
    )
    rep.add_argument(
        "--readout-init",
        choices=("lstsq", "zeros"),
        default="lstsq",
        help="start of the attention readout (default: lstsq)",
    )
    from .paper._protocol import PAPER_TASKS

    for task, spec in PAPER_TASKS.items():
        rep.add_argument(
            f"--{task}-epochs",
            type=_whole_number(1),
            help=f"epochs (paper: {spec['max_epochs']})",
        )
        rep.add_argument(
            f"--{task}-batch-size",
            type=_whole_number(1),
            help=f"batch size (paper: {spec['batch_size']})",
        )
        rep.add_argument(
            f"--{task}-n-samples",
            type=_whole_number(10),
            help=f"rows drawn, 10%% held out for testing (paper: {spec['n_samples']})",
        )
        n = spec["n_directions"]
        paper_n = f"the {spec['n_lattice']} lattice directions" if n is None else str(n)
        rep.add_argument(
            f"--{task}-n-directions",
            type=_whole_number(1),
            help=f"rows of F for {task} (paper: {paper_n})",
        )
    rep.set_defaults(run=_reproduce)

    fit = sub.add_parser("fit", help="fit a CSV file")
    fit.add_argument("data", type=Path, help="CSV file with a header row")
    fit.add_argument("--target", required=True, help="the column to predict")
    fit.add_argument(
        "--degree", type=_whole_number(1), required=True, help="q, the degree"
    )
    fit.add_argument("--solver", choices=("lstsq", "sgd", "adam"), default="lstsq")
    fit.add_argument(
        "--alpha",
        type=_non_negative_number,
        default=AttentionPolynomialRegressor().alpha,
        help="ridge strength of the readout (default: %(default)g)",
    )
    fit.add_argument(
        "--max-epochs",
        type=_whole_number(1),
        default=100,
        help="epochs of the gradient solvers (default: 100)",
    )
    fit.add_argument(
        "--test-size",
        type=float,
        default=0.2,
        help="fraction held out for testing (default: 0.2)",
    )
    fit.add_argument(
        "--terms",
        type=_whole_number(0),
        default=10,
        help="how many of the largest terms to print (default: 10)",
    )
    fit.add_argument(
        "--cv",
        type=_whole_number(2),
        metavar="K",
        help="choose the degree (1 to --degree) and alpha by K-fold "
        "cross-validation on the training rows (lstsq)",
    )
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--save", type=Path, help="save the model here with joblib")
    fit.add_argument("--plot", type=Path, help="predicted-vs-actual plot (PNG)")
    fit.set_defaults(run=_fit)
    return parser


def _add_out_and_seed(parser, default_out, what):
    """The ``--out`` and ``--seed`` options that ``demo`` and ``reproduce`` share."""
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(default_out),
        help=f"folder for {what} (default: ./{default_out})",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the data, its split and the models (default: 0)",
    )


def main(argv=None):
    """Run the command line; returns the exit code (2 for bad input)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    threads = torch.get_num_threads()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    try:
        return args.run(args)
    except InputError as exc:
        print(f"sklearn-attnpoly {args.command}: error: {exc}", file=sys.stderr)
        return 2
    finally:
        torch.set_num_threads(threads)


if __name__ == "__main__":
    sys.exit(main())
