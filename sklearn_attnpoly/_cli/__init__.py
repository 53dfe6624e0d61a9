"""The command line, ``sklearn-attnpoly`` and ``python -m sklearn_attnpoly``.

- :mod:`._parser`: the commands and their options;
- :mod:`._main`: :func:`main`, which runs a command and turns bad input into
  one line and exit status 2;
- :mod:`._fit_csv`: ``fit``, an estimator fitted to a CSV file;
- :mod:`._paper_commands`: ``demo`` and ``reproduce``, which run the paper's
  laboratory (:mod:`sklearn_attnpoly.paper`).

The estimators never import this package.
"""

from ._main import main

__all__ = ["main"]
