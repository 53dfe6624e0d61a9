import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _fixed_seeds():
    """Every test starts from the same global RNG states."""
    np.random.seed(0)  # noqa: NPY002 - the legacy global state is what is seeded
    torch.manual_seed(0)
