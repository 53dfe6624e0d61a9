"""``sklearn_attnpoly.datasets`` (``datasets.py``), the laboratory's datasets
under a short name."""

import subprocess
import sys


def test_datasets_is_imported_by_name():
    # a fresh interpreter: in this one, importing sklearn_attnpoly.datasets
    # above has already set the attribute
    code = (
        "import sklearn_attnpoly as p; "
        "assert not hasattr(p, 'datasets'); "
        "from sklearn_attnpoly import datasets; "
        "X, y = datasets.make_paper_f1(n_samples=3, random_state=0); "
        "assert X.shape == (3, 2) and datasets.paper_f2 is not None"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
