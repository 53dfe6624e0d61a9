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

``sklearn_attnpoly.datasets``, :class:`~sklearn_attnpoly.paper.PaperMLPRegressor`
and :func:`~sklearn_attnpoly.paper.make_baseline` still work from here; they
live in :mod:`sklearn_attnpoly.paper` and are imported on first use.
"""

import importlib

from ._one_layer import OneLayerTransformerRegressor
from ._regressor import AttentionPolynomialRegressor
from ._regressor_cv import AttentionPolynomialRegressorCV
from ._warnings import BoltzmannErrorWarning, OutOfBoundWarning
from .attention import AttentionPolynomialNetwork

__version__ = "0.2.0.dev0"

__all__ = [
    "AttentionPolynomialNetwork",
    "AttentionPolynomialRegressor",
    "AttentionPolynomialRegressorCV",
    "BoltzmannErrorWarning",
    "OneLayerTransformerRegressor",
    "OutOfBoundWarning",
    "PaperMLPRegressor",
    "__version__",
    "attention",
    "datasets",
    "make_baseline",
    "paper",
]

# names of the laboratory reached from the top, imported on first use so that
# ``import sklearn_attnpoly`` loads neither the laboratory nor matplotlib
_LAZY = {
    "PaperMLPRegressor": "sklearn_attnpoly.paper",
    "make_baseline": "sklearn_attnpoly.paper",
    "datasets": None,
    "paper": None,
}


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = _LAZY[name]
    if module is None:
        return importlib.import_module(f"{__name__}.{name}")
    return getattr(importlib.import_module(module), name)


def __dir__():
    return sorted(set(globals()) | set(__all__))
