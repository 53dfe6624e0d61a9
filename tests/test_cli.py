"""The command line: ``python -m sklearn_attnpoly`` / ``sklearn-attnpoly``."""

import json
import re
import subprocess
import sys

import joblib
import numpy as np
import pandas as pd
import pytest

from sklearn_attnpoly import _cli as cli
from sklearn_attnpoly._cli import _fit_csv
from sklearn_attnpoly.paper import _experiments


@pytest.fixture
def csv_file(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2))
    y = X[:, 0] ** 2 - 2 * X[:, 0] * X[:, 1] + 0.5
    path = tmp_path / "data.csv"
    rows = ["a,b,y"] + [
        ",".join(map(repr, row)) for row in np.column_stack([X, y]).tolist()
    ]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_exact_f2_check():
    assert _experiments.exact_f2_check(n_points=50) < 1e-9


# MLPRegressor()'s 200 epochs on 450 rows stop short of its tolerance
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_demo_writes_table_and_plots(tmp_path, monkeypatch, capsys):
    # the demo's own settings take a minute or two; the check is the same
    monkeypatch.setattr(_experiments, "exact_f2_check", lambda: print("exact f2 check"))
    monkeypatch.setattr(
        _experiments, "DEMO_SETTINGS", {"f1": {"n_samples": 500, "epochs": 3}}
    )
    assert cli.main(["--threads", "1", "demo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("exact f2 check\n")
    assert "| task | model | n | free params | fit time (s) | test MSE |" in out
    for model, n, params in [
        ("ATTENTION (lstsq)", 3, 13),
        ("NN_width", 10, 41),
        ("NN_depth", "–", 57),
        ("PF+LR", "–", 7),
        ("1-layer transformer", "–", 4385),
    ]:
        assert f"| f1 | {model} | {n} | {params} |" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "demo_f1_profiles.png",
        "demo_test_mse.png",
    ]


@pytest.mark.slow
def test_reproduce_quick(tmp_path, capsys):
    assert (
        cli.main(
            [
                "--threads",
                "1",
                "reproduce",
                "--quick",
                "--out",
                str(tmp_path),
                "--f2-n-samples",
                "1000",
            ]
        )
        == 0
    )
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "figure2_f1_surfaces.png",
        "figure3_f1_convergence.png",
        "figure3_f2_convergence.png",
        "results.json",
        "table1.md",
    ]
    report = json.loads((tmp_path / "results.json").read_text())
    assert report["settings"]["f2"] == {
        "n_samples": 1000,
        "epochs": 5,
        "batch_size": 500,
        "n_directions": 20,
    }
    f2 = {row["model"]: row for row in report["results"]["f2"]}
    assert list(f2) == ["ATTENTION", "NN_depth", "NN_width"]
    assert f2["ATTENTION"]["free_parameters"] == 20 * 10 + 20 * 5 + 1
    assert f2["NN_width"]["free_parameters"] == 52417
    assert f2["NN_depth"]["free_parameters"] == 74041
    for row in f2.values():
        assert row["epochs"] == len(row["curve_train"]) == 5
        assert row["curve_test_epochs"] == [1, 2, 3, 4, 5]
    f1 = {row["model"]: row for row in report["results"]["f1"]}
    assert f1["ATTENTION"]["free_parameters"] == 41
    assert f1["ATTENTION"]["n_directions"] == 10
    assert "| ATTENTION | 10 | 41 |" in (tmp_path / "table1.md").read_text()
    assert "results.json, table1.md and plots in" in capsys.readouterr().out


def _reproduce_tiny(out, *extra):
    argv = ["--threads", "1", "reproduce", "--quick", "--out", str(out)]
    argv += ["--tasks", "f1", "--f1-epochs", "4", "--f1-n-samples", "400", *extra]
    assert cli.main(argv) == 0
    return json.loads((out / "results.json").read_text())


def test_reproduce_in_worker_processes_gives_the_same_results(tmp_path):
    serial = _reproduce_tiny(tmp_path / "serial", "--jobs", "1")
    parallel = _reproduce_tiny(tmp_path / "parallel", "--jobs", "2")
    assert (serial["jobs"], parallel["jobs"]) == (1, 2)
    assert serial["torch_threads"] == parallel["torch_threads"] == 1
    assert serial["complete"] and parallel["complete"]
    for rows in (serial["results"]["f1"], parallel["results"]["f1"]):
        for row in rows:
            assert row.pop("fit_time_s") >= 0
    # each run is seeded alone: the same numbers, bit for bit, in paper order
    assert serial["results"] == parallel["results"]
    assert [r["model"] for r in serial["results"]["f1"]] == [
        "ATTENTION",
        "NN_depth",
        "NN_width",
    ]


def test_reproduce_saves_the_finished_runs_when_one_fails(tmp_path, monkeypatch):
    fit = _experiments.fit_paper_model

    def fit_or_fail(task, name, *args):
        if name == "NN_depth":
            raise RuntimeError("run failed")
        return fit(task, name, *args)

    monkeypatch.setattr(_experiments, "fit_paper_model", fit_or_fail)
    with pytest.raises(RuntimeError, match="run failed"):
        _reproduce_tiny(tmp_path, "--jobs", "1")
    report = json.loads((tmp_path / "results.json").read_text())
    assert report["complete"] is False
    # runs start in the order of reproduce_runs: ATTENTION, NN_width, NN_depth
    assert [r["model"] for r in report["results"]["f1"]] == ["ATTENTION", "NN_width"]
    assert not (tmp_path / "table1.md").exists()


def test_reproduce_runs_start_with_the_longest():
    settings = _experiments.REPRODUCE_SETTINGS["quick"]
    assert _experiments.reproduce_runs(settings) == [
        ("f2", "ATTENTION"),
        ("f2", "NN_width"),
        ("f2", "NN_depth"),
        ("f1", "ATTENTION"),
        ("f1", "NN_width"),
        ("f1", "NN_depth"),
    ]


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


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--degree", "0"], "argument --degree: must be at least 1; got 0"),
        (["--degree", "-2"], "argument --degree: must be at least 1; got -2"),
        (["--degree", "abc"], "argument --degree: 'abc' is not a whole number"),
        (["--degree", "2.5"], "argument --degree: '2.5' is not a whole number"),
        (["--degree", "2", "--terms", "-1"], "argument --terms: must be at least 0"),
        (
            ["--degree", "2", "--max-epochs", "0"],
            "argument --max-epochs: must be at least 1; got 0",
        ),
        (
            ["--degree", "2", "--alpha", "-1"],
            "argument --alpha: must be a finite number >= 0; got -1",
        ),
        (
            ["--degree", "2", "--alpha", "nan"],
            "argument --alpha: must be a finite number >= 0; got nan",
        ),
        (["--degree", "2", "--alpha", "x"], "argument --alpha: 'x' is not a number"),
    ],
)
def test_bad_numbers_are_one_line(csv_file, capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        cli.main(["fit", str(csv_file), "--target", "y", *argv])
    assert exc.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"sklearn-attnpoly fit: error: {message}")
    assert captured.err.endswith("(see sklearn-attnpoly fit --help)\n")
    assert captured.err.count("\n") == 1


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


def test_entry_point_reports_bad_input_without_traceback(tmp_path):
    # the real process: exit status and stderr as a user sees them
    missing = tmp_path / "missing.csv"
    argv = ["fit", str(missing), "--target", "y", "--degree", "2"]
    result = subprocess.run(
        [sys.executable, "-m", "sklearn_attnpoly", *argv],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(
        f"sklearn-attnpoly fit: error: cannot read {missing}: "
    )
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["fit", "data.csv", "--degree", "2"])
    assert exc.value.code == 2
    assert "the following arguments are required: --target" in capsys.readouterr().err
