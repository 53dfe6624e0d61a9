"""``sklearn-attnpoly fit`` (``_cli/_fit_csv.py``): a CSV file in, a model and its
polynomial out, and each bad input as one line."""

import re

import joblib
import numpy as np
import pandas as pd
import pytest

from sklearn_attnpoly import _cli as cli
from sklearn_attnpoly._cli import _fit_csv


def test_fit_csv(csv_file, tmp_path, capsys):
    model, plot = tmp_path / "model.joblib", tmp_path / "pred.png"
    argv = [
        str(csv_file),
        "--target",
        "y",
        "--degree",
        "2",
        "--test-size",
        "0.25",
        "--save",
        str(model),
        "--plot",
        str(plot),
        "--terms",
        "3",
    ]
    assert cli.main(["fit", *argv]) == 0
    out = capsys.readouterr().out
    assert "Fitted degree 2 (lstsq) on 225 rows" in out
    assert "test  (75 rows): MSE" in out
    lines = out.splitlines()
    start = lines.index("Largest terms of the fitted polynomial (y =):")
    terms = [line.strip() for line in lines[start + 1 : start + 4]]
    assert terms == ["-2 * a * b", "1 * a^2", "0.5"]
    est = joblib.load(model)
    assert est.feature_names_in_.tolist() == ["a", "b"]
    X_new = pd.DataFrame([[1.0, 2.0]], columns=["a", "b"])
    np.testing.assert_allclose(est.predict(X_new), [-2.5], atol=1e-6)
    assert plot.stat().st_size > 0


def test_fit_csv_with_a_saved_index_and_alpha(tmp_path, capsys):
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.normal(size=(60, 2)), columns=["a", "b"])
    frame["y"] = frame["a"] * frame["b"]
    path = tmp_path / "indexed.csv"
    frame.to_csv(path)  # the index is the first column, its header empty
    model = tmp_path / "model.joblib"
    argv = ["fit", str(path), "--target", "y", "--degree", "2", "--save", str(model)]
    assert cli.main([*argv, "--alpha", "1e-6"]) == 0
    captured = capsys.readouterr()
    assert captured.err == (
        f"sklearn-attnpoly fit: note: the first column of {path} has no header "
        "(a saved row index?); it is left out.\n"
    )
    est = joblib.load(model)
    assert est.alpha == 1e-6
    assert est.feature_names_in_.tolist() == ["a", "b"]


def test_fit_checks_the_output_folders_before_fitting(
    csv_file, tmp_path, monkeypatch, capsys
):
    def fit(self, X, y):
        raise AssertionError("fitted before the output paths were checked")

    monkeypatch.setattr(_fit_csv.AttentionPolynomialRegressor, "fit", fit)
    missing = tmp_path / "missing" / "out"
    for option in ("--save", "--plot"):
        argv = ["fit", str(csv_file), "--target", "y", "--degree", "2", option]
        assert cli.main([*argv, str(missing)]) == 2
        assert capsys.readouterr().err == (
            f"sklearn-attnpoly fit: error: {option} {missing}: the folder "
            f"{missing.parent} does not exist.\n"
        )
        assert cli.main([*argv, str(tmp_path)]) == 2
        assert capsys.readouterr().err == (
            f"sklearn-attnpoly fit: error: {option} {tmp_path}: is a folder; give "
            "a file name.\n"
        )


@pytest.mark.parametrize(
    ("content", "argv", "message"),
    [
        (None, ["--target", "y"], "cannot read {path}: [Errno 2] No such file"),
        ("", ["--target", "y"], "{path} is empty."),
        ("a,b,y\n", ["--target", "y"], "{path} has a header but no data rows."),
        (
            "a,b,y\n1,2,3\n",
            ["--target", "z"],
            "column 'z' is not in {path}; its columns are: a, b, y.",
        ),
        (
            "a,b,y\n1,2,3\n1,x,3\n",
            ["--target", "y"],
            "{path}, line 3, column 'b': 'x' is not a number.",
        ),
        (
            "a,b,y\n1,,3\n",
            ["--target", "y"],
            "{path}, line 2, column 'b': '' is not a number.",
        ),
        (
            "a,b,y\n1,inf,3\n",
            ["--target", "y"],
            "{path}, line 2, column 'b': 'inf' is not a finite number.",
        ),
        (
            "a,b,y\n1,nan,3\n",
            ["--target", "y"],
            "{path}, line 2, column 'b': 'nan' is not a finite number.",
        ),
        (
            "a,b,y\n1,2,3\n4,5,NaN\n",
            ["--target", "y"],
            "{path}, line 3, column 'y': 'NaN' is not a finite number.",
        ),
        (
            "y,b,y\n1,2,3\n",
            ["--target", "y"],
            "{path}: the header names a column more than once: y.",
        ),
        (
            "a,,y\n1,2,3\n",
            ["--target", "y"],
            "{path}: column 2 of the header has no name.",
        ),
        (
            "a,b,y\n1,2\n",
            ["--target", "y"],
            "{path}, line 2: 2 fields, but the header has 3.",
        ),
        (
            # degree 8 on 10 columns: C(18, 8) - 1 power features
            ",".join("abcdefghij") + ",y\n" + ",".join(["1"] * 11) + "\n",
            ["--target", "y", "--degree", "8"],
            "--degree 8 on 10 feature columns needs 43757 power features",
        ),
        (
            "a,b,y\n1,2,3\n",
            ["--target", "y"],
            "{path} needs at least 2 data rows to split; it has 1.",
        ),
    ],
)
def test_fit_bad_input_is_one_line(tmp_path, capsys, content, argv, message):
    path = tmp_path / "data.csv"
    if content is not None:
        path.write_text(content)
    assert cli.main(["fit", str(path), "--degree", "2", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    expected = "sklearn-attnpoly fit: error: " + message.format(path=path)
    assert captured.err.startswith(expected)
    assert captured.err.count("\n") == 1


def test_fit_cross_validates_degree_and_alpha(csv_file, capsys):
    argv = ["fit", str(csv_file), "--target", "y", "--degree", "3", "--cv", "3"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    # y is an exact quadratic: degrees 2 and 3 both fit it (R^2 = 1)
    assert re.search(
        r"Fitted degree [23] \(lstsq\) on 240 rows.*\n  chosen by 3-fold "
        r"cross-validation over degrees 1 to 3 and alphas \[1e-08, .*\]: "
        r"degree [23], alpha \S+ \(mean R\^2 1\)",
        out,
    )
    argv += ["--solver", "sgd"]
    assert cli.main(argv) == 2
    assert "--cv chooses the lstsq readout's degree" in capsys.readouterr().err


def test_fit_bad_test_size(csv_file, capsys):
    argv = [
        "fit",
        str(csv_file),
        "--target",
        "y",
        "--degree",
        "2",
        "--test-size",
        "2.5",
    ]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"sklearn-attnpoly fit: error: cannot split {csv_file}: ")
    assert err.count("\n") == 1


def test_out_of_memory_is_one_line(csv_file, monkeypatch, capsys):
    def fit(self, X, y):
        raise MemoryError

    monkeypatch.setattr(_fit_csv.AttentionPolynomialRegressor, "fit", fit)
    argv = ["fit", str(csv_file), "--target", "y", "--degree", "3"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err == (
        "sklearn-attnpoly fit: error: not enough memory to fit degree 3 on 2 "
        "feature columns and 240 rows; choose a smaller --degree.\n"
    )
