"""The network built from arrays (``attention/_assembly.py``), and back."""

import numpy as np
import pytest
import torch

from sklearn_attnpoly.attention import (
    NetworkSpec,
    build_network,
    network_arrays,
    network_parameters,
)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_network_parameters_rebuild_the_network(dtype):
    rng = np.random.default_rng(0)
    directions = rng.normal(size=(5, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    given = {
        "directions": directions,
        "readout": rng.normal(size=(5, 3, 2)),
        "intercept": np.array([0.5, -1.0]),
        "mask": rng.uniform(size=(5, 3)) < 0.7,
        "slot_scale": np.array([1.0, 0.5, 0.25]),
    }
    spec = NetworkSpec(3, 2.0, dtype=dtype)
    first = spec.build(n_outputs=2, **given)
    parameters = network_parameters(first)
    assert set(parameters) == set(given)
    np.testing.assert_array_equal(parameters["mask"], given["mask"])
    np.testing.assert_array_equal(
        parameters["slot_scale"], given["slot_scale"].astype(dtype_np(dtype))
    )
    again = build_network(degree=3, radius=2.0, n_outputs=2, dtype=dtype, **parameters)
    for name, tensor in first.state_dict().items():
        torch.testing.assert_close(again.state_dict()[name], tensor, rtol=0, atol=0)
    x = torch.as_tensor(rng.uniform(-0.5, 0.5, size=(7, 3)), dtype=dtype)
    torch.testing.assert_close(again(x), first(x), rtol=0, atol=0)
    # what the network reads: beta / slot_scale, zero outside the mask
    _, readout, _ = network_arrays(first)
    expected = (
        given["readout"] * given["mask"][..., None] / given["slot_scale"][:, None]
    )
    np.testing.assert_allclose(
        readout, expected, rtol=1e-6 if dtype == torch.float32 else 1e-15
    )


def dtype_np(dtype):
    return np.float32 if dtype == torch.float32 else np.float64
