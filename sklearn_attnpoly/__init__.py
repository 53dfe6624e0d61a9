"""sklearn-attnpoly: the attention model of Fang et al. (2022) as a scikit-learn
regressor that represents every polynomial of degree at most ``q`` exactly."""

from ._network import AttentionPolynomialNetwork
from ._regressor import AttentionPolynomialRegressor
from ._scaling import OutOfBoundWarning

__version__ = "0.1.0"

__all__ = [
    "AttentionPolynomialNetwork",
    "AttentionPolynomialRegressor",
    "OutOfBoundWarning",
    "__version__",
]
