"""The network of Theorem 3.5 assembled from arrays.

Every solver returns arrays (the directions, the readout, the intercept); the
estimators build their :class:`AttentionPolynomialNetwork` from them here, in
one place, whichever solver produced them.
"""

from dataclasses import dataclass

import numpy as np
import torch

from ._network import AttentionPolynomialNetwork


def build_network(
    directions,
    degree,
    *,
    radius,
    n_outputs=1,
    readout=None,
    intercept=None,
    mask=None,
    slot_scale=None,
    engine="structured",
    dtype=torch.float64,
    attention="hardmax",
    inverse_temperature=40.0,
    device="cpu",
):
    """An :class:`AttentionPolynomialNetwork` with the given parameters.

    Parameters
    ----------
    directions : array-like of shape (n, d)
        The rows of ``F``.
    degree : int
        ``q``, the number of blocks.
    radius : float
        The bound on ``||x||`` the blocks are built for.
    n_outputs : int, default=1
        Columns of the readout.
    readout : array-like of shape (n, q, n_outputs), default=None
        The parameter ``beta`` (zeros when None); the network reads
        ``beta / slot_scale``.
    intercept : array-like of shape (n_outputs,), default=None
        ``b`` (zeros when None).
    mask : array-like of shape (n, q) of bool, default=None
        The readout entries allowed to be non-zero (all when None).
    slot_scale : array-like of shape (q,), default=None
        Per-degree divisor of the readout (ones when None).
    engine : {"structured", "dense"}, default="structured"
        As :class:`AttentionPolynomialNetwork` takes it.
    dtype : torch.dtype, default=torch.float64
        As :class:`AttentionPolynomialNetwork` takes it.
    attention : {"hardmax", "boltzmann"}, default="hardmax"
        As :class:`AttentionPolynomialNetwork` takes it.
    inverse_temperature : float, default=40.0
        As :class:`AttentionPolynomialNetwork` takes it.
    device : str or torch.device, default="cpu"
        Where the network is put.

    Returns
    -------
    AttentionPolynomialNetwork
        The network, its parameters set.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_attnpoly.attention import build_network
    >>> net = build_network(np.eye(2), 2, radius=1.0,
    ...                     readout=np.array([[[0.0], [1.0]], [[0.0], [1.0]]]))
    >>> float(net(torch.tensor([[0.3, 0.4]], dtype=torch.float64)).detach()[0, 0])
    0.25
    """
    module = AttentionPolynomialNetwork(
        torch.as_tensor(np.asarray(directions, dtype=np.float64)),
        degree,
        radius,
        n_outputs=n_outputs,
        engine=engine,
        mask=None if mask is None else torch.as_tensor(np.asarray(mask)),
        dtype=dtype,
        attention=attention,
        inverse_temperature=inverse_temperature,
    )
    with torch.no_grad():
        for name, value in (
            ("beta", readout),
            ("b", intercept),
            ("slot_scale", slot_scale),
        ):
            if value is not None:
                target = getattr(module, name)
                target.copy_(torch.as_tensor(np.asarray(value), dtype=dtype))
    return module.to(device)


@torch.no_grad()
def network_arrays(module):
    """Return a network's parameters as float64 arrays.

    Parameters
    ----------
    module : AttentionPolynomialNetwork
        The network.

    Returns
    -------
    F : ndarray of shape (n, d)
        The directions.
    beta : ndarray of shape (n, q, n_outputs)
        The readout as the network reads it (``readout()``).
    b : ndarray of shape (n_outputs,)
        The intercept.
    """
    return _numpy(module.F), _numpy(module.readout()), _numpy(module.b)


@torch.no_grad()
def network_parameters(module):
    """Return what :func:`build_network` takes to rebuild ``module``.

    The inverse of :func:`build_network` for a network's own parameters and
    buffers: ``build_network(F, q, radius=..., **network_parameters(m))`` is
    ``m`` again.

    Parameters
    ----------
    module : AttentionPolynomialNetwork
        The network.

    Returns
    -------
    dict
        ``directions`` ``(n, d)``, ``readout`` (the parameter ``beta``, ``(n,
        q, n_outputs)``), ``intercept`` ``(n_outputs,)``, ``mask`` ``(n, q)``
        of bool and ``slot_scale`` ``(q,)``, as float64 (bool) arrays.
    """
    return {
        "directions": _numpy(module.F),
        "readout": _numpy(module.beta),
        "intercept": _numpy(module.b),
        "mask": module.mask.detach().cpu().numpy().astype(bool),
        "slot_scale": _numpy(module.slot_scale),
    }


def _numpy(tensor):
    return tensor.detach().cpu().double().numpy()


@dataclass(frozen=True)
class NetworkSpec:
    """What a network is built with, apart from its parameters.

    The estimator's choices, in one object the solvers receive.

    Parameters
    ----------
    degree : int
        ``q``, the number of blocks.
    radius : float
        The guard radius the blocks are built for.
    engine : {"structured", "dense"}, default="structured"
        The blocks' computation.
    dtype : torch.dtype, default=torch.float64
        The network's precision.
    attention : {"hardmax", "boltzmann"}, default="hardmax"
        The blocks' maximum.
    inverse_temperature : float, default=40.0
        The Boltzmann blocks' inverse temperature.
    device : str, default="cpu"
        Where the network is put.
    """

    degree: int
    radius: float
    engine: str = "structured"
    dtype: torch.dtype = torch.float64
    attention: str = "hardmax"
    inverse_temperature: float = 40.0
    device: str = "cpu"

    def build(self, directions, n_outputs=1, **parameters):
        """Build a network of this specification (:func:`build_network`).

        Parameters
        ----------
        directions : array-like of shape (n, d)
            The rows of ``F``.
        n_outputs : int, default=1
            Columns of the readout.
        **parameters : dict
            :func:`build_network`'s ``readout``, ``intercept``, ``mask`` and
            ``slot_scale``.

        Returns
        -------
        AttentionPolynomialNetwork
            The network.
        """
        return build_network(
            directions,
            self.degree,
            radius=self.radius,
            n_outputs=n_outputs,
            engine=self.engine,
            dtype=self.dtype,
            attention=self.attention,
            inverse_temperature=self.inverse_temperature,
            device=self.device,
            **parameters,
        )
