"""sklearn-attnpoly: the attention model of Fang et al. (2022) as a scikit-learn
regressor that represents every polynomial of degree at most ``q`` exactly.

The paper's synthetic tasks are in :mod:`sklearn_attnpoly.datasets`; its
baseline networks, trained by its protocol, are :class:`PaperMLPRegressor` and
:func:`make_baseline`.
"""

# ``datasets`` is imported here, not only on demand, so that
# ``sklearn_attnpoly.datasets.make_paper_f1`` works after a bare
# ``import sklearn_attnpoly`` (the way ``sklearn.datasets`` is reached).
from . import datasets
from ._baselines import PaperMLPRegressor, make_baseline
from ._network import AttentionPolynomialNetwork
from ._regressor import AttentionPolynomialRegressor
from ._scaling import OutOfBoundWarning

__version__ = "0.1.0"

__all__ = [
    "AttentionPolynomialNetwork",
    "AttentionPolynomialRegressor",
    "OutOfBoundWarning",
    "PaperMLPRegressor",
    "__version__",
    "datasets",
    "make_baseline",
]
