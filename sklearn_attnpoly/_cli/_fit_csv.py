"""``sklearn-attnpoly fit``: fit a CSV file.

Reads the CSV's numeric columns with their names, checks the output paths and
the degree's size before fitting, fits the estimator on a training split and
prints its metrics and the largest terms of its polynomial.
"""

import csv
import importlib.util
import sys
import time

import joblib
import numpy as np

from .._polynomial import n_monomials
from .._regressor import AttentionPolynomialRegressor
from .._regressor_cv import AttentionPolynomialRegressorCV
from ._errors import InputError

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
    p = n_monomials(n_features, degree)
    if p > MAX_POWER_FEATURES:
        raise InputError(
            f"--degree {degree} on {n_features} feature columns needs {p} power "
            f"features (C(d + q, q) - 1), more than the {MAX_POWER_FEATURES} "
            f"this command fits (a {8 * p**2 / 1e9:.3g} GB system); choose a "
            "smaller --degree."
        )


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


def fit_csv(args):
    """Run ``sklearn-attnpoly fit`` with the parsed ``args``."""
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
        from ..paper._plots import plot_predicted_vs_actual

        plot_predicted_vs_actual(y_te, pred_te, args.target, args.plot)
        print(f"Plot saved to {args.plot}")
    return 0
