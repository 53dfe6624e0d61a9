"""The package's floors: the core never reaches into the paper's laboratory
or the command line, the laboratory never reaches into the command line, and
a closed-form fit loads nothing it does not use. The API page lists every
public name."""

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import pytest

import sklearn_attnpoly
from sklearn_attnpoly import _cli
from sklearn_attnpoly.__main__ import main as module_main

_CORE_ONLY = """
import json, pickle, sys
import numpy as np
import sklearn_attnpoly
from sklearn_attnpoly import AttentionPolynomialRegressor, attention
X = np.random.default_rng(0).normal(size=(60, 2))
dynamo = {}
for solver in ("lstsq", "sgd"):
    est = AttentionPolynomialRegressor(2, solver=solver, max_epochs=2).fit(X, X[:, 0])
    pickle.loads(pickle.dumps(est)).predict(10 * X)
    est.to_polynomial()
    AttentionPolynomialRegressor.from_polynomial({(2, 0): 1.0}).predict(X)
    dynamo[solver] = "torch._dynamo" in sys.modules
loaded = [
    name for name in sys.modules
    if name.startswith(("sklearn_attnpoly.paper", "sklearn_attnpoly.datasets",
                        "sklearn_attnpoly._cli", "matplotlib", "dask"))
]
print(json.dumps({"laboratory": sorted(loaded), "dynamo": dynamo}))
"""


def test_the_core_loads_neither_the_laboratory_nor_matplotlib_nor_dask():
    # a fresh interpreter: this one has imported everything already
    done = subprocess.run(
        [sys.executable, "-c", _CORE_ONLY], capture_output=True, text=True, check=True
    )
    loaded = json.loads(done.stdout)
    assert loaded["laboratory"] == []
    # a torch optimizer imports torch._dynamo (seconds); only training needs one
    assert loaded["dynamo"] == {"lstsq": False, "sgd": True}


_LABORATORY_ONLY = """
import importlib, json, pkgutil, sys
import sklearn_attnpoly.paper as paper
for module in pkgutil.walk_packages(paper.__path__, "sklearn_attnpoly.paper."):
    importlib.import_module(module.name)
cli = [name for name in sys.modules if name.startswith("sklearn_attnpoly._cli")]
print(json.dumps(sorted(cli)))
"""


def test_the_laboratory_never_imports_the_command_line():
    # data flows down: the command line calls the laboratory, never the reverse
    done = subprocess.run(
        [sys.executable, "-c", _LABORATORY_ONLY],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout) == []


def test_the_console_script_and_python_m_run_the_same_main():
    (script,) = importlib.metadata.entry_points(
        group="console_scripts", name="sklearn-attnpoly"
    )
    assert script.value == "sklearn_attnpoly._cli:main"
    assert script.load() is _cli.main is module_main
    assert _cli.main.__module__ == "sklearn_attnpoly._cli._main"


def test_the_laboratory_is_reached_by_name_only():
    from sklearn_attnpoly import datasets, paper

    assert datasets.make_paper_f1 is paper.datasets.make_paper_f1
    assert not hasattr(sklearn_attnpoly, "PaperMLPRegressor")
    assert not hasattr(sklearn_attnpoly, "__getattr__")


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        sklearn_attnpoly.no_such_name  # noqa: B018


def test_api_docs_list_every_public_name():
    """Each public package's names are listed in its section of the API page;
    the names that the top package also gives from a subpackage (the
    laboratory's, the network) are listed once, in the subpackage's section;
    the datasets' constants are described in their module's docstring."""
    import sklearn_attnpoly
    from sklearn_attnpoly import attention, paper

    api = (Path(__file__).parents[1] / "docs" / "api.rst").read_text()
    constants = {n for n in paper.datasets.__all__ if n.isupper()}
    assert all(f"``{n}``" in paper.datasets.__doc__ for n in constants)
    sections = {
        "sklearn_attnpoly": set(sklearn_attnpoly.__all__) - set(attention.__all__),
        "sklearn_attnpoly.attention": set(attention.__all__),
        "sklearn_attnpoly.paper": set(paper.__all__) - {"datasets"},
        "sklearn_attnpoly.paper.datasets": set(paper.datasets.__all__) - constants,
    }
    for module, names in sections.items():
        section = api.split(f".. currentmodule:: {module}\n")[1]
        section = section.split(".. currentmodule")[0]
        names -= {"__version__", "attention"}
        missing = sorted(n for n in names if f"   {n}\n" not in section)
        assert not missing, (module, missing)
