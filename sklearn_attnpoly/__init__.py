"""sklearn-attnpoly: the attention model of Fang et al. (2022) as a scikit-learn
regressor that represents every polynomial of degree at most ``q`` exactly.

The package has three floors:

- the estimators, here at the top (:class:`AttentionPolynomialRegressor`;
  :class:`AttentionPolynomialRegressorCV`, which cross-validates its degree
  and ridge strength; and :class:`OneLayerTransformerRegressor`, the trained
  one-layer softmax transformer of Kajitsuka and Sato);
- the frozen transformer they are built from, :mod:`sklearn_attnpoly.attention`
  (the paper's Lemma 3.1, Lemma 3.3 and Theorem 3.5), and the machinery that
  fits it (private: the closed-form readout, its moments, the skorch training);
- the paper's laboratory, :mod:`sklearn_attnpoly.paper`: its datasets, its
  baseline networks, the experiments of its section 5 and their plots, which
  the estimators never import.

The laboratory is imported by name (``import sklearn_attnpoly.paper``), so
that ``import sklearn_attnpoly`` loads neither it nor matplotlib;
``sklearn_attnpoly.datasets`` is an alias of ``sklearn_attnpoly.paper.datasets``.
"""

from ._one_layer import OneLayerTransformerRegressor
from ._regressor import AttentionPolynomialRegressor
from ._regressor_cv import AttentionPolynomialRegressorCV
from ._warnings import (
    BoltzmannErrorWarning,
    ExtrapolationWarning,
    OutOfBoundWarning,
    PrecisionWarning,
)
from .attention import AttentionPolynomialNetwork

__version__ = "0.2.0.dev0"

__all__ = [
    "AttentionPolynomialNetwork",
    "AttentionPolynomialRegressor",
    "AttentionPolynomialRegressorCV",
    "BoltzmannErrorWarning",
    "ExtrapolationWarning",
    "OneLayerTransformerRegressor",
    "OutOfBoundWarning",
    "PrecisionWarning",
    "__version__",
]
