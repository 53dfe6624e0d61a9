"""The laboratory's commands (``_cli/_paper_commands.py``): ``demo`` and
``reproduce``."""

import json

import pytest

from sklearn_attnpoly import _cli as cli
from sklearn_attnpoly.paper import _experiments


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


@pytest.mark.slow
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
