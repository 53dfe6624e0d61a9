"""The paper's laboratory: its tasks, its baselines and its experiments.

Everything here serves the reproduction of Fang et al. (2022), section 5:

- :mod:`~sklearn_attnpoly.paper.datasets`: the synthetic tasks f1 and f2;
- :class:`PaperMLPRegressor` and :func:`make_baseline`: the ReLU networks of
  its Tables 2 and 3, trained by its protocol, and the other models of the
  comparison;
- the experiments behind ``sklearn-attnpoly demo`` and ``reproduce``, and
  their plots (matplotlib, the ``paper`` extra).

The estimators of :mod:`sklearn_attnpoly` never import this package.
"""

from . import datasets
from ._baselines import PaperMLPRegressor, make_baseline

__all__ = ["PaperMLPRegressor", "datasets", "make_baseline"]
