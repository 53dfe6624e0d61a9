"""The paper's laboratory: its tasks, its baselines and its experiments.

Everything here serves the reproduction of Fang et al. (2022), section 5:

- :mod:`~sklearn_attnpoly.paper.datasets`: the synthetic tasks f1 and f2;
- :class:`PaperMLPRegressor` and :func:`make_baseline`: the ReLU networks of
  its Tables 2 and 3, trained by its protocol, and the other models of the
  comparison;
- the experiments behind ``sklearn-attnpoly demo`` and ``reproduce``, their
  plots (matplotlib, the ``paper`` extra) and the reproduction's report
  (``results.json`` and ``table1.md``).

The estimators of :mod:`sklearn_attnpoly` never import this package, and it
never imports the command line (``sklearn_attnpoly._cli``), which calls it.
"""

from . import datasets
from ._baselines import PaperMLPRegressor, make_baseline

__all__ = ["PaperMLPRegressor", "datasets", "make_baseline"]
