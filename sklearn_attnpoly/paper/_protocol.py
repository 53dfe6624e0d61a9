"""The paper's experimental protocol (section 5 and Appendix A.1), in one place.

Each task is one of the paper's polynomials (:mod:`~sklearn_attnpoly.paper.datasets`
holds the polynomials and how their data are drawn), with the attention model's
number of directions, the hidden layers of the two ReLU networks it is compared
with (Tables 2 and 3: ``NN_width`` has one hidden layer as wide as the attention
model has directions, ``NN_depth`` has ``q + 1`` hidden layers), and the
training budget. All three models train the same way: SGD with a one-cycle
learning rate from ``PAPER_LR / 10`` up to :data:`PAPER_LR`, and gradient
clipping.
"""

import math

from .._polynomial import validate_coefficients
from .datasets import PAPER_F1, PAPER_F2, PAPER_SAMPLES

#: The largest learning rate of the paper's one-cycle schedule (it starts at a
#: tenth of it).
PAPER_LR = 1e-3

#: The paper's convergence rule (Table 1): converged once
#: ``|MSE_Tr(e) - MSE_Tr(e-1)| < CONVERGENCE_TOL``.
CONVERGENCE_TOL = 0.01


def _task(polynomial, *, n_directions, nn_width, nn_depth_width, epochs, batch):
    n_features, degree, _ = validate_coefficients(polynomial)
    n_lattice = math.comb(n_features - 1 + degree, degree)
    return {
        "n_features": n_features,
        "degree": degree,
        # None: the C(d - 1 + q, q) lattice directions of Lemma 3.3
        "n_directions": n_directions,
        "n_lattice": n_lattice,
        "nn_width": (nn_width,),
        "nn_depth": (nn_depth_width,) * (degree + 1),
        "max_epochs": epochs,
        "batch_size": batch,
    }


#: The paper's two tasks: ``d`` and ``q`` (read off the polynomials), the
#: attention model's directions, the networks' hidden layers (Tables 2 and 3)
#: and the training budget of section 5.
PAPER_TASKS = {
    "f1": _task(
        PAPER_F1, n_directions=10, nn_width=10, nn_depth_width=4, epochs=600,
        batch=5000,
    ),
    "f2": _task(
        PAPER_F2, n_directions=None, nn_width=4368, nn_depth_width=120,
        epochs=2000, batch=25000,
    ),
}  # fmt: skip

for _name, _spec in PAPER_TASKS.items():
    _spec["n_samples"] = PAPER_SAMPLES[_name]
