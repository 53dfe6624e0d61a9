"""How the estimators fit the frozen transformer (private).

- :mod:`~sklearn_attnpoly._solvers._readout`: ``beta, b`` in closed form, a
  weighted ridge on the slots (``solver="lstsq"``);
- :mod:`~sklearn_attnpoly._solvers._moments`: its normal equations from the
  data's moments, exact inside the blocks' radius;
- :mod:`~sklearn_attnpoly._solvers._varpro`: the directions learned with the
  readout eliminated (``solver="varpro"``), and
  :mod:`~sklearn_attnpoly._solvers._candidates`: its growth's one-direction
  candidates, every start evaluated at once;
- :mod:`~sklearn_attnpoly._solvers._skorch`: skorch plumbing any network of the
  package trains with (batch loading, the one-pass step, the paper's schedule);
- :mod:`~sklearn_attnpoly._solvers._training`: the attention network's skorch
  net and its callbacks (``solver="sgd"`` and ``"adam"``).
"""
