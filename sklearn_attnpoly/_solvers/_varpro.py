"""Variable projection: the directions ``F`` fitted with the readout eliminated.

The model is separable: for fixed directions ``F`` the output ``b + s(Fx) .
beta`` is linear in the readout, whose best value is a ridge regression on the
slots. Variable projection (Golub and Pereyra, 1973) minimises the *reduced*
loss

    J(F) = min_{beta, b} sum_n w_n ||y_n - b - s_n beta||^2 + alpha ||D beta||^2,

where ``s_n`` are the slots the frozen chain writes for ``t = F x_n``
(``(-1)^k t_i^k`` inside the blocks' radius, Lemma 3.1), the weights are
normalised to sum to 1, and ``D^2`` holds the slots' weighted variances (the
ridge on standardised slots, as :mod:`~sklearn_attnpoly._solvers._readout`
standardises its features). By the envelope theorem the gradient of ``J`` is
that of the full loss with ``beta, b`` held at their optimum, so

    dJ/ds_n = 2 w_n [-(y_n - b - s_n beta) beta^T + alpha (s_n - m) * ||beta||^2_rows],
    dJ/dt_ni = sum_k dJ/ds_nik (-1)^k k t_ni^(k-1),
    dJ/dF = (dJ/dt)^T X,

the second line the derivative of the chain's slots inside the blocks' radius
(where the chain computes the powers exactly), the penalty's term because
``D`` depends on ``F`` (its mean's derivative vanishes: the centred slots sum
to zero under ``w``). ``J`` is invariant to the scale of each row of ``F``
(the ridge is on standardised slots), so the rows are kept on the unit sphere
by the parametrisation ``F = V / ||V||`` and L-BFGS runs on ``V``.

One random start stalls in poor minima when the directions are few, so the
directions are grown greedily (projection pursuit): each new batch of
directions is fitted, one direction at a time, to the current residual, from
its principal Hessian directions (Li, 1992) and a few random starts, and the
best distinct ones join ``F`` before a joint refit. The structure is found on a
subsample of the rows when there are many, and refined on all of them.
"""

import warnings

import numpy as np
import scipy.linalg
import scipy.optimize
import torch
from sklearn.exceptions import ConvergenceWarning

from .._chunks import row_chunks, rows_per_chunk
from ..attention._fused_chain import slot_signs
from ._readout import RCOND

#: The growth adds ``ceil(n / GROWTH_STEPS)`` directions per step: one at a
#: time for a few directions, in larger batches for many.
GROWTH_STEPS = 6
#: L-BFGS iterations of the joint refit after each growth step (at most
#: ``max_iter``).
INNER_ITER = 100
#: Starts of each candidate direction: principal Hessian directions, random.
N_PHD_STARTS = 4
N_RANDOM_STARTS = 10
#: L-BFGS iterations of a one-direction candidate fit (at most ``max_iter``).
CANDIDATE_ITER = 40
#: Candidates whose ``|cos|`` with a kept direction exceeds this are repeats.
DISTINCT_COS = 0.98
#: The structure is found on at most this many rows per trained parameter
#: (but never fewer than MIN_SUBSAMPLE), then refined on all rows.
ROWS_PER_PARAMETER = 20
MIN_SUBSAMPLE = 5000
#: The mean relative decrease of ``J`` per iteration is measured over this
#: many iterations.
TOL_WINDOW = 10


class ReducedLoss:
    """``J(F)``, its envelope gradient and the optimal readout, for fixed rows.

    The slots come from the module's frozen chain, in its dtype and on its
    device; the small dense algebra around them (Gram matrix, ridge, gradient)
    is done in float64 NumPy.

    Parameters
    ----------
    module : AttentionPolynomialNetwork
        The network whose frozen chain computes the slots; its ``F`` is
        overwritten by each evaluation.
    X : ndarray of shape (n_samples, n_features)
        Scaled inputs, inside the blocks' radius.
    Y : ndarray of shape (n_samples, n_outputs)
        Scaled targets.
    sample_weight : ndarray of shape (n_samples,)
        Positive weights.
    alpha : float
        Ridge strength on the standardised slots.
    """

    def __init__(self, module, X, Y, sample_weight, alpha):
        self.module = module
        self.X = np.asarray(X, dtype=np.float64)
        self.X_module = torch.as_tensor(self.X, dtype=module.F.dtype).to(
            module.F.device
        )
        self.Y = np.asarray(Y, dtype=np.float64).reshape(len(self.X), -1)
        w = np.asarray(sample_weight, dtype=np.float64)
        self.w = w / w.sum()
        self.alpha = float(alpha)
        self.degree = module.degree
        self.y_mean = self.w @ self.Y
        self.Y_centred = self.Y - self.y_mean

    def subset(self, rows):
        """The same loss on some of the rows (their weights renormalised)."""
        return ReducedLoss(
            self.module, self.X[rows], self.Y[rows], self.w[rows], self.alpha
        )

    def with_targets(self, Y):
        """The same loss for other targets (a residual), on the same rows."""
        return ReducedLoss(self.module, self.X, Y, self.w, self.alpha)

    def with_directions(self, n):
        """The same loss on a module of ``n`` directions, with the same chain."""
        module = self.module
        sized = type(module)(
            torch.zeros(n, module.F.shape[1], dtype=module.F.dtype),
            module.degree,
            module.radius,
            n_outputs=self.Y.shape[1],
            engine=module.engine,
            dtype=module.F.dtype,
        ).to(module.F.device)
        view = ReducedLoss.__new__(ReducedLoss)
        view.__dict__.update(self.__dict__)
        view.module = sized
        return view

    def _chunks(self, n):
        # a row's slots, their gradient and its projections, besides the
        # chain's own arrays
        row_bytes = self.module.row_bytes() + 8 * (3 * n * self.degree + n)
        return row_chunks(len(self.X), rows_per_chunk(row_bytes))

    @torch.no_grad()
    def _slots(self, rows):
        """``(rows, n q)``: the chain's slots of the rows, direction-major."""
        slots = self.module.slots(self.X_module[rows])
        return slots.reshape(len(slots), -1).cpu().numpy().astype(np.float64)

    def evaluate(self, F, gradient=True):
        """``J(F)``, ``dJ/dF`` (or None), ``beta`` of shape ``(n, q,
        n_outputs)`` and ``b``, in the module's units.

        Two passes over chunks of rows: the weighted Gram matrix of the slots
        (about the first chunk's mean, for precision) and the ridge solution;
        then the residuals, ``J`` and the envelope gradient.
        """
        module, w, q, alpha = self.module, self.w, self.degree, self.alpha
        F = np.asarray(F, dtype=np.float64)
        with torch.no_grad():
            module.F.copy_(torch.as_tensor(F, dtype=module.F.dtype))
        n = len(F)
        p = n * q
        gram = np.zeros((p, p))
        cross = np.zeros((p, self.Y.shape[1]))
        total = np.zeros(p)
        shift = None
        chunks = list(self._chunks(n))
        kept = None  # one chunk's slots serve both passes
        for rows in chunks:
            S = self._slots(rows)
            if len(chunks) == 1:
                kept = S.copy()
            if shift is None:
                shift = (w[rows] @ S) / w[rows].sum()
            S -= shift
            wS = w[rows, None] * S
            gram += S.T @ wS
            cross += wS.T @ self.Y_centred[rows]
            total += wS.sum(0)
        gram -= np.outer(total, total)  # centred: sum w = 1, total = mean - shift
        mean = shift + total
        spread = np.sqrt(np.clip(np.diag(gram), 0.0, None))
        spread[spread == 0] = 1.0
        correlation = gram / spread[:, None] / spread[None, :]
        rhs = cross / spread[:, None]
        eigenvalues, eigenvectors = scipy.linalg.eigh(correlation)
        regularised = np.clip(eigenvalues, 0.0, None) + alpha
        keep = regularised > RCOND * regularised.max()
        V = eigenvectors[:, keep]
        coef = V @ ((V.T @ rhs) / regularised[keep, None])
        beta = coef / spread[:, None]
        b = self.y_mean - mean @ beta
        penalty = alpha * float((coef * coef).sum())
        if not gradient:
            explained = float((rhs * coef).sum())
            J = float(w @ (self.Y_centred**2).sum(1)) - explained
            return J, None, beta.reshape(n, q, -1), b
        row_penalty = alpha * (beta * beta).sum(1)
        grad = np.zeros_like(F)
        signs = slot_signs(q)
        J = 0.0
        for rows in chunks:
            t = self.X[rows] @ F.T
            S = (kept if kept is not None else self._slots(rows)) - mean
            residual = self.Y_centred[rows] - S @ beta
            J += float(w[rows] @ (residual * residual).sum(1))
            dS = S * row_penalty
            dS -= residual @ beta.T
            dS *= 2.0 * w[rows, None]
            dS = dS.reshape(len(t), n, q)
            # dJ/dt = sum_k dJ/ds_k (-1)^k k t^(k-1), by Horner in t
            dt = dS[..., q - 1] * (signs[q - 1] * q)
            for k in range(q - 1, 0, -1):
                dt *= t
                dt += dS[..., k - 1] * (signs[k - 1] * k)
            grad += dt.T @ self.X[rows]
        return J + penalty, grad, beta.reshape(n, q, -1), b

    def residual(self, F):
        """The centred targets minus the optimal readout's output for ``F``."""
        if len(F) == 0:
            return self.Y_centred
        _, _, beta, b = self.evaluate(F, gradient=False)
        slots = np.concatenate([self._slots(rows) for rows in self._chunks(len(F))])
        return self.Y - (slots @ beta.reshape(-1, beta.shape[-1]) + b)


def _unit_rows(V):
    return V / np.linalg.norm(V, axis=1, keepdims=True)


def minimise(loss, F0, *, max_iter, tol):
    """L-BFGS on ``F = V / ||V||`` (scipy's, with its strong Wolfe search).

    Stops when the mean relative decrease of ``J`` over the last
    :data:`TOL_WINDOW` iterations is at most ``tol``, or after ``max_iter``
    iterations.

    Returns
    -------
    F : ndarray
        Unit rows.
    losses : list of float
        ``J`` at the start and after each iteration.
    converged : bool
        Whether ``tol`` stopped it (not the iteration cap).
    """
    shape = F0.shape
    J0, _, _, _ = loss.evaluate(F0, gradient=False)
    scale = 1.0 / max(J0, np.finfo(float).tiny)  # scipy's tolerances see O(1)

    def objective(v):
        V = v.reshape(shape)
        norms = np.linalg.norm(V, axis=1, keepdims=True)
        F = V / norms
        J, grad, _, _ = loss.evaluate(F)
        grad = grad - (grad * F).sum(1, keepdims=True) * F  # tangent to the sphere
        return J * scale, (grad / norms).ravel() * scale

    losses = [J0]
    state = {"converged": False}

    def callback(intermediate_result):
        losses.append(intermediate_result.fun / scale)
        if len(losses) > TOL_WINDOW:
            J = losses[-1]
            decrease = (losses[-1 - TOL_WINDOW] - J) / (
                TOL_WINDOW * max(abs(J), 1e-300)
            )
            if decrease <= tol:
                state["converged"] = True
                raise StopIteration

    if max_iter == 0:
        return np.array(F0), losses, False
    result = scipy.optimize.minimize(
        objective,
        np.asarray(F0, dtype=np.float64).ravel(),
        jac=True,
        method="L-BFGS-B",
        callback=callback,
        options={"maxiter": max_iter, "maxfun": 4 * max_iter, "ftol": 0.0, "gtol": 0.0},
    )
    # below the cap, L-BFGS stopped because the loss could not decrease
    converged = state["converged"] or len(losses) - 1 < max_iter
    return _unit_rows(result.x.reshape(shape)), losses, converged


def _principal_hessian_directions(X, R, w, k):
    """The ``k`` leading eigenvectors of ``sum_o M_o^2``, ``M_o = sum_n w_n
    r_no x_n x_n^T`` (Li, 1992), and the linear direction of each output."""
    Xc = X - w @ X
    M2 = np.zeros((X.shape[1], X.shape[1]))
    linear = []
    for o in range(R.shape[1]):
        M = (Xc * (w * R[:, o])[:, None]).T @ Xc
        M2 += M @ M
        linear.append(Xc.T @ (w * R[:, o]))
    _, U = np.linalg.eigh(M2)
    starts = [U[:, -j] for j in range(1, min(k, X.shape[1]) + 1)]
    starts += [v / np.linalg.norm(v) for v in linear if np.linalg.norm(v) > 0]
    return starts


def _new_directions(loss, F, k, rng, max_iter):
    """The ``k`` best new directions for ``F``: each fitted alone to the
    residual of ``F``'s readout, from principal Hessian and random starts,
    kept when distinct from ``F``'s rows and from each other."""
    X, w = loss.X, loss.w
    alone = loss.with_targets(loss.residual(F))
    d = X.shape[1]
    starts = _principal_hessian_directions(X, alone.Y, w, N_PHD_STARTS)
    starts += list(_unit_rows(rng.standard_normal((N_RANDOM_STARTS, d))))
    candidates = []
    single = alone.with_directions(1)
    for start in starts:
        xi, losses, _ = minimise(
            single, start[None, :], max_iter=min(CANDIDATE_ITER, max_iter), tol=1e-6
        )
        candidates.append((losses[-1], xi[0]))
    candidates.sort(key=lambda c: c[0])
    chosen = []
    for _, xi in candidates:
        if all(abs(xi @ c) < DISTINCT_COS for c in chosen) and (
            len(F) == 0 or np.abs(F @ xi).max() < DISTINCT_COS
        ):
            chosen.append(xi)
        if len(chosen) == k:
            break
    while len(chosen) < k:
        chosen.append(_unit_rows(rng.standard_normal((1, d)))[0])
    return np.array(chosen)


def fit_directions(loss, n_directions, *, max_iter, tol, rng):
    """Grow ``n_directions`` directions, then refine them on all rows.

    Parameters
    ----------
    loss : ReducedLoss
        On all rows, its module of ``n_directions`` directions.
    n_directions : int
    max_iter : int
        L-BFGS iterations of the final refit (and of the last growth step).
    tol : float
        Stop a refit when ``J`` falls by less than this, relatively, per
        iteration (over :data:`TOL_WINDOW` iterations).
    rng : numpy.random.RandomState

    Returns
    -------
    F : ndarray of shape (n_directions, n_features)
    record : dict
        ``loss_curve`` (``J`` after every iteration of every joint refit, in
        order), ``n_iter``, ``converged`` (the last refit stopped by ``tol``),
        ``n_rows_grown`` (rows the directions were grown on).
    """
    n_samples, d = loss.X.shape
    parameters = n_directions * (d + loss.degree) + 1
    n_sub = max(MIN_SUBSAMPLE, ROWS_PER_PARAMETER * parameters)
    grow_on = loss
    if n_samples > 2 * n_sub:
        grow_on = loss.subset(np.sort(rng.choice(n_samples, n_sub, replace=False)))
    curve, n_iter = [], 0
    F = np.zeros((0, d))
    step = -(-n_directions // GROWTH_STEPS)
    while len(F) < n_directions:
        add = min(step, n_directions - len(F))
        sized = grow_on.with_directions(len(F))
        F = np.vstack([F, _new_directions(sized, F, add, rng, max_iter)])
        last = len(F) == n_directions
        F, losses, converged = minimise(
            grow_on.with_directions(len(F)),
            F,
            max_iter=max_iter if last else min(INNER_ITER, max_iter),
            tol=tol,
        )
        curve += losses[1:]
        n_iter += len(losses) - 1
    if grow_on is not loss:
        F, losses, converged = minimise(loss, F, max_iter=max_iter, tol=tol)
        curve += losses[1:]
        n_iter += len(losses) - 1
    if not converged:
        warnings.warn(
            f"solver='varpro' stopped after max_iter={max_iter} iterations of its "
            f"last refit before the loss settled (tol={tol}); increase max_iter.",
            ConvergenceWarning,
            stacklevel=3,
        )
    return F, {
        "loss_curve": curve,
        "n_iter": n_iter,
        "converged": converged,
        "n_rows_grown": len(grow_on.X),
    }
