"""Kajitsuka and Sato's one-layer softmax transformer: the estimator and its
torch module, side by side."""

from ._estimator import OneLayerTransformerRegressor
from ._module import OneLayerTransformer

__all__ = ["OneLayerTransformer", "OneLayerTransformerRegressor"]
