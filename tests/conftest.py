import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """One torch and one BLAS thread: on a shared 2-core machine, a second
    thread waits for a core another process holds at every parallel region,
    and small operations run many times slower. The numbers do not change."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _fixed_seeds():
    """Every test starts from the same global RNG states."""
    np.random.seed(0)  # noqa: NPY002 - the legacy global state is what is seeded
    torch.manual_seed(0)
