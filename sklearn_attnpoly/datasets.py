"""The paper's synthetic tasks; an alias of :mod:`sklearn_attnpoly.paper.datasets`.

Kept so that ``from sklearn_attnpoly.datasets import make_paper_f1`` keeps
working; the datasets live with the rest of the paper's laboratory.
"""

from .paper.datasets import *  # noqa: F403
from .paper.datasets import __all__  # noqa: F401
