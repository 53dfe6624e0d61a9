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

Three choices are made from the data, in :func:`fit_varpro`: the
ridge ``alpha`` by efficient leave-one-out on the standardised slots at each
refit (:mod:`~sklearn_attnpoly._solvers._loo_ridge`; fixed while L-BFGS
runs, so that ``J`` stays one function of ``F``), the number of directions by
a held-out score after each growth step (scikit-learn's early stopping), and
the threads (:mod:`~sklearn_attnpoly._threads`: every library's pool at one
thread, the chunks of rows spread over the caller's threads, so the numbers
do not depend on them).
"""

import math
import warnings
from typing import NamedTuple

import numpy as np
import scipy.optimize
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import mean_squared_error, r2_score

from .. import _chunks as chunk_policy
from .._chunks import row_chunks, rows_per_chunk
from .._threads import one_pool, parallel_map
from ..attention import build_network
from ._candidates import (
    OneDirectionLosses,
    minimise_each,
    ridge_coefficients,
    settled,
)
from ._loo_ridge import EigenRidge, LooRidge

#: The growth adds ``ceil(n / GROWTH_STEPS)`` directions per step: one at a
#: time for a few directions, in larger batches for many.
GROWTH_STEPS = 6
#: Sized by validation, the growth adds ``ceil(GROWTH_RATE * len(F))``
#: directions per step (at least one): 1, 2, 3, 4, 5, 7, 9, 12, 15, 19, ...
GROWTH_RATE = 0.25
#: Sized by validation, the directions are at most ``MAX_DIRECTIONS``, and
#: at most as many as keep the parameters ``n (d + q) + 1`` within half the
#: training rows (:func:`max_directions`).
MAX_DIRECTIONS = 128
#: L-BFGS iterations of the joint refit after each growth step (at most
#: ``max_iter``).
INNER_ITER = 100
#: Starts of each candidate direction: principal Hessian directions, random.
N_PHD_STARTS = 4
N_RANDOM_STARTS = 10
#: L-BFGS iterations of a one-direction candidate fit (at most ``max_iter``),
#: and its ``tol``.
CANDIDATE_ITER = 40
CANDIDATE_TOL = 1e-6
#: Sized by validation, a refit looks at the held-out score every
#: ``REFIT_LOOK`` iterations, and stops when over its last
#: ``REFIT_NO_CHANGE`` looks the score has not improved by
#: ``REFIT_VALIDATION_TOL`` (:func:`_improves`: for ``"r2"``, the held-out
#: error cut by this much of itself) and the training loss has fallen by less
#: than ``REFIT_LOSS_TOL`` of itself per iteration
#: (:func:`_held_out_monitor`).
REFIT_LOOK = 5
REFIT_NO_CHANGE = 2
REFIT_VALIDATION_TOL = 1e-3
REFIT_LOSS_TOL = 1e-3
#: Candidates are fitted on at most this many rows (a sample of the rows the
#: growth step sees): they are starts for the joint refit, and a fit of one
#: direction is bound by reading its rows, not by arithmetic.
CANDIDATE_ROWS = 2000
#: Candidates whose ``|cos|`` with a kept direction exceeds this are repeats.
DISTINCT_COS = 0.98
#: The structure is found on at most this many rows per trained parameter
#: (but never fewer than MIN_SUBSAMPLE), then refined on all rows.
ROWS_PER_PARAMETER = 20
MIN_SUBSAMPLE = 5000
#: The mean relative decrease of ``J`` per iteration is measured over this
#: many iterations.
TOL_WINDOW = 10
#: Chunks of fewer slot values than this take numpy's products, whose fixed
#: cost is the smaller; larger ones take torch's in place.
SMALL_CHUNK = 2**16
#: The default grid of the readout's ridge, for weights that sum to 1 and
#: standardised slots: from the numerical safeguard (``RCOND``) to a penalty
#: as large as the whole weighted loss of a unit coefficient.
ALPHAS = np.logspace(-10, 0, 11)


class ReducedLoss:
    """``J(F)``, its envelope gradient and the optimal readout, for fixed rows.

    For the exact blocks (``attention="hardmax"``) the slots are the powers
    ``(-1)^k t^k`` the chain writes inside its radius (Lemma 3.1), computed
    directly in float64; for softmax blocks they come from the module's
    chain, in its dtype. Both passes over the rows hold a chunk's arrays
    slot-major and transposed, ``(q n, rows)``, so that each power is one
    contiguous product and the Gram matrix one symmetric rank-k update;
    chunks are sized to stay in a core's cache
    (:data:`~sklearn_attnpoly._chunks.CACHE_CHUNK_BYTES`), and the second
    pass computes the slots again rather than reading them back from memory.
    :func:`~sklearn_attnpoly._threads.parallel_map` spreads the chunks over
    the threads of :func:`~sklearn_attnpoly._threads.one_pool` and they are
    reduced in order, so the numbers do not depend on the threads.

    Parameters
    ----------
    module : AttentionPolynomialNetwork
        The network of the slots: its degree, attention and chain; for
        softmax blocks its ``F`` is overwritten by each evaluation.
    X : ndarray of shape (n_samples, n_features)
        Scaled inputs, inside the blocks' radius.
    Y : ndarray of shape (n_samples, n_outputs)
        Scaled targets.
    sample_weight : ndarray of shape (n_samples,)
        Positive weights, as given: a row of weight ``k`` counts as ``k``
        rows in the leave-one-out choice of the ridge and in the cap on the
        directions; the loss itself normalises them to sum to 1.
    alpha : float
        Ridge strength on the standardised slots, the weights summing to 1.
    """

    def __init__(self, module, X, Y, sample_weight, alpha):
        self.module = module
        self.X = np.ascontiguousarray(X, dtype=np.float64)
        self.Y = np.asarray(Y, dtype=np.float64).reshape(len(self.X), -1)
        self.row_weight = np.asarray(sample_weight, dtype=np.float64)
        self.w = self.row_weight / self.row_weight.sum()
        # equal weights: sqrt(w) is one number, applied once to the Gram matrix
        self.equal_weights = bool(len(self.w)) and bool(np.all(self.w == self.w[0]))
        self.alpha = float(alpha)
        self.degree = module.degree
        self.powers = module.attention == "hardmax"
        self.y_mean = self.w @ self.Y
        self.Y_centred = self.Y - self.y_mean

    def subset(self, rows):
        """The same loss on some of the rows (their weights renormalised)."""
        return ReducedLoss(
            self.module, self.X[rows], self.Y[rows], self.row_weight[rows], self.alpha
        )

    def with_targets(self, Y):
        """The same loss for other targets (a residual), on the same rows."""
        return ReducedLoss(self.module, self.X, Y, self.row_weight, self.alpha)

    def with_alpha(self, alpha):
        """The same loss with another ridge strength."""
        view = ReducedLoss.__new__(ReducedLoss)
        view.__dict__.update(self.__dict__)
        view.alpha = float(alpha)
        return view

    def with_directions(self, n):
        """The same loss on a module of ``n`` directions, with the same chain."""
        module = self.module
        sized = build_network(
            np.zeros((n, module.F.shape[1])),
            module.degree,
            radius=module.radius,
            n_outputs=self.Y.shape[1],
            engine=module.engine,
            dtype=module.F.dtype,
            attention=module.attention,
            inverse_temperature=module.inverse_temperature,
            device=module.F.device,
        )
        view = ReducedLoss.__new__(ReducedLoss)
        view.__dict__.update(self.__dict__)
        view.module = sized
        return view

    def _chunks(self, n):
        # a row's slots and their gradient, its t, x and y
        p, (d, o) = n * self.degree, (self.X.shape[1], self.Y.shape[1])
        row_bytes = 8 * (2 * p + n + d + 2 * o)
        if not self.powers:
            row_bytes += self.module.row_bytes()
        chunk_bytes = chunk_policy.CACHE_CHUNK_BYTES
        return list(row_chunks(len(self.X), rows_per_chunk(row_bytes, chunk_bytes)))

    def _set(self, F):
        F = np.ascontiguousarray(F, dtype=np.float64)
        if not self.powers:
            with torch.no_grad():
                self.module.F.copy_(torch.as_tensor(F, dtype=self.module.F.dtype))
        return F

    def _slots(self, F, rows):
        """``(q n, rows)``: the slots of the rows, slot-major (``[k n + i] =
        s_(k+1)(t_i)``)."""
        X = self.X[rows]
        q, n = self.degree, len(F)
        if self.powers:
            P = np.empty((q, n, len(X)))
            np.matmul(F, X.T, out=P[0])
            np.negative(P[0], out=P[0])  # s_1 = -t, s_k = s_(k-1) (-t)
            for k in range(1, q):
                np.multiply(P[k - 1], P[0], out=P[k])
            return P.reshape(q * n, len(X))
        x = torch.as_tensor(X, dtype=self.module.F.dtype, device=self.module.F.device)
        with torch.no_grad():
            slots = self.module.slots(x).permute(2, 1, 0).reshape(q * n, len(X))
        return np.asarray(slots.cpu(), dtype=np.float64)

    def _chunk_moments(self, F, rows):
        """A chunk's weight, weighted mean of the slots, and their Gram
        matrix and cross products about that mean."""
        A = self._slots(F, rows)
        w = self.w[rows]
        weight = w.sum()
        mean = (A @ w) / weight
        A -= mean[:, None]
        Y = self.Y_centred[rows]
        if self.equal_weights:  # sqrt(w) once, on the products
            scale = float(w[0])
        else:
            root = np.sqrt(w)
            A *= root
            Y, scale = root[:, None] * Y, 1.0
        # numpy's own A A^T is a symmetric rank-k update, and unlike scipy's
        # BLAS wrappers it lets go of the interpreter while it runs
        gram = A @ A.T
        gram *= scale
        return weight, mean, gram, scale * (A @ Y)

    def _moments(self, F):
        """The slots' weighted mean, spread, correlation matrix and correlation
        with the targets, merged from the chunks' (Chan et al.'s pairwise
        update)."""
        F = self._set(F)
        chunks = self._chunks(len(F))
        parts = parallel_map(lambda rows: self._chunk_moments(F, rows), chunks)
        weights = np.array([part[0] for part in parts])
        means = np.array([part[1] for part in parts])
        mean = (weights @ means) / weights.sum()
        gram = sum(part[2] for part in parts)
        cross = sum(part[3] for part in parts)
        offsets = means - mean
        gram += (weights[:, None] * offsets).T @ offsets
        for offset, rows in zip(offsets, chunks, strict=True):
            cross += np.outer(offset, self.w[rows] @ self.Y_centred[rows])
        spread = np.sqrt(np.clip(np.diag(gram), 0.0, None))
        spread[spread == 0] = 1.0
        correlation = gram / spread[:, None] / spread[None, :]
        rhs = cross / spread[:, None]
        return F, chunks, mean, spread, correlation, rhs

    def _readout(self, beta_flat, mean, n):
        """``beta`` of shape ``(n, q, n_outputs)`` and ``b`` from the
        slot-major coefficients of the centred slots."""
        beta = beta_flat.reshape(self.degree, n, -1).transpose(1, 0, 2)
        return np.ascontiguousarray(beta), self.y_mean - mean @ beta_flat

    def _ridge(self, correlation, rhs):
        """The standardised coefficients at ``alpha``
        (:func:`~sklearn_attnpoly._solvers._candidates.ridge_coefficients`)."""
        return ridge_coefficients(correlation[None], rhs[None], self.alpha)[0]

    def evaluate(self, F, gradient=True):
        """``J(F)``, ``dJ/dF`` (or None), ``beta`` of shape ``(n, q,
        n_outputs)`` and ``b``, in the module's units.

        Two passes over chunks of rows: the weighted Gram matrix of the slots
        and the ridge solution; then the residuals, ``J`` and the envelope
        gradient.
        """
        F, chunks, mean, spread, correlation, rhs = self._moments(F)
        n, q, alpha = len(F), self.degree, self.alpha
        coef = self._ridge(correlation, rhs)
        beta_flat = coef / spread[:, None]
        beta, b = self._readout(beta_flat, mean, n)
        penalty = alpha * float((coef * coef).sum())
        if not gradient:
            explained = float((rhs * coef).sum())
            # at the ridge solution, residual plus penalty is y'Wy - c'r
            J = float(self.w @ (self.Y_centred**2).sum(1)) - explained
            return J, None, beta, b
        # dJ/ds = 2 w D, D = alpha ||beta||^2 (s - m) - beta r; the slot k's
        # rows of D times k are  a s - B [r; 1]  with a = k alpha ||beta||^2
        # and B = [k beta, a m]: one scaling and one product per chunk
        k = np.repeat(np.arange(1.0, q + 1), n)
        a = k * alpha * (beta_flat * beta_flat).sum(1)
        B = np.hstack([k[:, None] * beta_flat, (a * mean)[:, None]])
        beta_rows = np.ascontiguousarray(beta_flat.T)
        fitted_mean = (mean @ beta_flat)[:, None]

        def chunk_gradient(rows):
            A = self._slots(F, rows)
            # u = -t: the powers' first slot, or t again for softmax blocks
            u = A[:n].copy() if self.powers else -(F @ self.X[rows].T)
            w = self.w[rows]
            residual = np.empty((B.shape[1], A.shape[1]))
            np.matmul(beta_rows, A, out=residual[:-1])
            np.subtract(self.Y_centred[rows].T + fitted_mean, residual[:-1],
                        out=residual[:-1])  # fmt: skip
            residual[-1] = 1.0
            J = float(((residual[:-1] ** 2) @ w).sum())
            A *= a[:, None]
            if A.size < SMALL_CHUNK:
                A -= B @ residual
            else:  # in place, by a BLAS call that lets go of the interpreter
                torch.from_numpy(A).addmm_(
                    torch.from_numpy(B), torch.from_numpy(residual), alpha=-1.0
                )
            D = A.reshape(q, n, -1)
            # dJ/dt = sum_k dJ/ds_k (-1)^k k t^(k-1) = -2 w sum_k k D_k u^(k-1),
            # u = -t, by Horner in u
            dt = D[q - 1]
            for j in range(q - 1, 0, -1):
                dt *= u
                dt += D[j - 1]
            dt *= -2.0 * w
            return J, dt @ self.X[rows]

        parts = parallel_map(chunk_gradient, chunks)
        J = sum(part[0] for part in parts)
        grad = sum(part[1] for part in parts)
        return J + penalty, grad, beta, b

    def choose_alpha(self, F, alphas):
        """The ridge chosen by leave-one-out for the directions ``F``
        (:mod:`~sklearn_attnpoly._solvers._loo_ridge`), on the standardised
        slots.

        Parameters
        ----------
        F : ndarray of shape (n, n_features)
        alphas : array-like of shape (n_alphas,)

        Returns
        -------
        loss : ReducedLoss
            This loss at the chosen ``alpha``.
        fit : LooRidge
            ``alpha_``, ``coef`` as ``beta`` of shape ``(n, q, n_outputs)``
            in the module's units, ``intercept`` as ``b``, and ``loo_mse``.
        """
        F, chunks, mean, spread, correlation, rhs = self._moments(F)
        ridge = EigenRidge(correlation, rhs, alphas)

        def chunk_errors(rows):
            A = self._slots(F, rows)
            A -= mean[:, None]
            A /= spread[:, None]
            return ridge.loo_squared_errors(
                A.T, self.Y_centred[rows], self.w[rows], 1.0, self.row_weight[rows]
            )

        errors = parallel_map(chunk_errors, chunks)
        loo_mse = sum(errors) / self.Y.size
        best = int(np.argmin(loo_mse))
        beta, b = self._readout(ridge.coef(best) / spread[:, None], mean, len(F))
        alpha = float(ridge.alphas[best])
        return self.with_alpha(alpha), LooRidge(alpha, beta, b, loo_mse)

    def predict(self, F, beta, b):
        """The output ``b + s(F x) . beta`` on these rows, ``(n_samples,
        n_outputs)``, for ``beta`` of shape ``(n, q, n_outputs)``."""
        F = self._set(F)
        beta_flat = np.transpose(beta, (1, 0, 2)).reshape(-1, beta.shape[-1])
        parts = parallel_map(
            lambda rows: self._slots(F, rows).T @ beta_flat, self._chunks(len(F))
        )
        return np.concatenate(parts) + b

    def residual(self, F):
        """The targets minus the optimal readout's output for ``F``."""
        if len(F) == 0:
            return self.Y_centred
        _, _, beta, b = self.evaluate(F, gradient=False)
        return self.Y - self.predict(F, beta, b)


def _unit_rows(V):
    return V / np.linalg.norm(V, axis=1, keepdims=True)


def minimise(loss, F0, *, max_iter, tol, monitor=None):
    """L-BFGS on ``F = V / ||V||`` (scipy's, with its strong Wolfe search).

    Stops when the mean relative decrease of ``J`` over the last
    :data:`TOL_WINDOW` iterations is at most ``tol``, when ``monitor(F,
    readout)``, asked every :data:`REFIT_LOOK` iterations, returns True, or
    after ``max_iter`` iterations; ``readout`` is ``(J, beta, b)`` of ``F``
    when L-BFGS has just evaluated it (as it has, unless its line search
    ended elsewhere), else None.

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

    last = {"v": None}

    def objective(v):
        V = v.reshape(shape)
        norms = np.linalg.norm(V, axis=1, keepdims=True)
        F = V / norms
        J, grad, beta, b = loss.evaluate(F)
        if monitor is not None:
            last["v"], last["readout"] = v.copy(), (J, beta, b)
        grad = grad - (grad * F).sum(1, keepdims=True) * F  # tangent to the sphere
        return J * scale, (grad / norms).ravel() * scale

    losses = [J0]
    state = {"converged": False}

    def callback(intermediate_result):
        losses.append(intermediate_result.fun / scale)
        if settled(losses, TOL_WINDOW, tol):
            state["converged"] = True
            raise StopIteration
        if monitor is not None and (len(losses) - 1) % REFIT_LOOK == 0:
            x = intermediate_result.x
            readout = last["readout"] if np.array_equal(x, last["v"]) else None
            if monitor(_unit_rows(x.reshape(shape)), readout):
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
    kept when distinct from ``F``'s rows and from each other.

    The candidates are independent problems, ranked in the order of their
    starts. For the exact blocks they are fitted together
    (:mod:`~sklearn_attnpoly._solvers._candidates`: one batched evaluation of
    every start per iteration, one L-BFGS per start); for softmax blocks, one
    after another, each on its own one-direction module. Not on threads: an
    evaluation of one direction on a few thousand rows is a few hundred
    microseconds of small calls that hold the interpreter's lock, and side by
    side on two threads they took twice the time of one (one 2-core machine,
    f2 at 24 directions: 1.07 s against 0.57 s per fit).
    """
    alone = loss.with_targets(loss.residual(F))
    if len(alone.X) > CANDIDATE_ROWS:
        alone = alone.subset(
            np.sort(rng.choice(len(alone.X), CANDIDATE_ROWS, replace=False))
        )
    X, w = alone.X, alone.w
    d = X.shape[1]
    starts = _principal_hessian_directions(X, alone.Y, w, N_PHD_STARTS)
    starts += list(_unit_rows(rng.standard_normal((N_RANDOM_STARTS, d))))

    iterations = min(CANDIDATE_ITER, max_iter)
    if alone.powers:
        together = OneDirectionLosses(X, alone.Y, w, alone.alpha, alone.degree)
        xis, losses = minimise_each(
            together, np.array(starts), max_iter=iterations, tol=CANDIDATE_TOL,
            window=TOL_WINDOW,
        )  # fmt: skip
        candidates = list(zip(losses, xis, strict=True))
    else:

        def candidate(start):
            xi, losses, _ = minimise(
                alone.with_directions(1),
                start[None, :],
                max_iter=iterations,
                tol=CANDIDATE_TOL,
            )
            return losses[-1], xi[0]

        candidates = list(map(candidate, starts))
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


class VarproResult(NamedTuple):
    """What :func:`fit_varpro` learned.

    Attributes
    ----------
    F : ndarray of shape (n_directions_, n_features)
        Unit rows, in the scaled units of ``X``.
    beta : ndarray of shape (n_directions_, q, n_outputs)
        The readout of the slots, in the module's units.
    b : ndarray of shape (n_outputs,)
    alpha_ : float
        The ridge of the readout (chosen by leave-one-out when a grid was
        given), for weights that sum to 1 and standardised slots.
    n_directions_ : int
    validation_score_ : ndarray of shape (n_steps,) or None
        The held-out score after each growth step, when the size was chosen
        by validation.
    step_sizes : list of int
        The directions after each growth step; with validation, the kept
        step is the first maximum of ``validation_score_``.
    n_iter : int
        L-BFGS iterations of all joint refits.
    loss_curve : list of float
        ``J`` after every iteration of every joint refit, in order.
    converged : bool
        Whether ``tol`` (not ``max_iter``) stopped the last refit.
    n_rows_grown : int
        Rows the last growth step was fitted on.
    """

    F: np.ndarray
    beta: np.ndarray
    b: np.ndarray
    alpha_: float
    n_directions_: int
    validation_score_: np.ndarray | None
    step_sizes: list
    n_iter: int
    loss_curve: list
    converged: bool
    n_rows_grown: int


def max_directions(n_samples, n_features, degree):
    """The cap on the directions sized by validation.

    At most :data:`MAX_DIRECTIONS`, and at most as many as keep the trained
    parameters, ``n (d + q) + 1``, within half the rows; at least 1. The
    held-out score, not this cap, is meant to choose the size: the cap bounds
    the time, and the parameters where no score could be trusted.

    Parameters
    ----------
    n_samples : int
        Training rows (without the held-out ones).
    n_features : int
    degree : int

    Returns
    -------
    int

    Examples
    --------
    >>> from sklearn_attnpoly._solvers._varpro import max_directions
    >>> max_directions(331, 10, 3), max_directions(40500, 10, 5)
    (12, 128)
    """
    fits = (n_samples // 2 - 1) // (n_features + degree)
    return int(max(1, min(MAX_DIRECTIONS, fits)))


def _score(scoring, Y, prediction, w):
    if callable(scoring):
        return float(scoring(Y, prediction, sample_weight=w))
    if scoring == "r2" and len(Y) > 1:
        return float(r2_score(Y, prediction, sample_weight=w))
    if scoring == "r2":  # R^2 needs two rows; one ranks the steps by its error
        return -float(mean_squared_error(Y, prediction, sample_weight=w))
    if scoring == "neg_mean_squared_error":
        return -float(mean_squared_error(Y, prediction, sample_weight=w))
    raise ValueError(
        f"scoring={scoring!r} is not one of 'r2', 'neg_mean_squared_error' or a "
        "callable (y_true, y_pred, sample_weight) -> float, higher is better."
    )


def _improves(score, reference, tol, scoring):
    """Whether ``score`` improves on ``reference`` by ``tol``. For ``"r2"``
    and ``"neg_mean_squared_error"`` the improvement is the relative decrease
    of the held-out error (``1 - R^2``, the MSE): the error spans 1 to 1e-7
    between noisy data and smooth simulators, where no one absolute ``tol``
    serves both; for a callable, the rise of the score (scikit-learn's
    absolute ``tol``)."""
    if callable(scoring):
        return score > reference + tol
    error = (lambda s: 1.0 - s) if scoring == "r2" else (lambda s: -s)
    return error(score) < error(reference) * (1.0 - tol)


def _stalled(scores, n_iter_no_change, tol, scoring):
    """scikit-learn's rule (``HistGradientBoostingRegressor``): none of the
    last ``n_iter_no_change`` scores improves on the one before them by more
    than ``tol`` (:func:`_improves`)."""
    if len(scores) <= n_iter_no_change:
        return False
    reference = scores[-n_iter_no_change - 1]
    return not any(
        _improves(s, reference, tol, scoring) for s in scores[-n_iter_no_change:]
    )


def _held_out_rows(X, Y, fraction, rng):
    """The rows held out for validation: about ``fraction`` of them.

    A row is held out when ``frac((x, y) . r) < fraction``, for a random
    ``r`` of large entries drawn from ``rng``: a pseudo-random function of
    the row's values, so that a row repeated ``k`` times and the same row
    with weight ``k`` are held out alike (scikit-learn's sample-weight
    equivalence). When that holds out no row or every row, the rows equal
    to the one of least ``frac`` are held out.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"validation_fraction={fraction} must be in (0, 1).")
    rows = np.hstack([X, Y])
    # a product and a sum per row, not a matrix-vector product: BLAS may
    # round equal rows differently in different places of the matrix
    u = (rows * (1e3 * rng.standard_normal(rows.shape[1]))).sum(axis=1) % 1.0
    held = u < fraction
    if held.all() or not held.any():
        held = u == u.min()
    if held.all():
        raise ValueError(
            f"n_samples={len(X)}: solver='varpro' with n_directions=None holds "
            "out rows to choose its number of directions, and these rows are "
            "all the same row; pass n_directions, or more distinct rows."
        )
    return held


def _held_out_monitor(train, held_out, scoring):
    """Whether a refit has stopped paying.

    ``stop(F, readout=None)`` scores the readout of ``F`` on ``train``
    (``readout``, ``(J, beta, b)``, when :func:`minimise` has it) on the
    held-out rows and records the training loss; it is True when, over its last
    :data:`REFIT_NO_CHANGE` looks, the held-out score has not improved by
    :data:`REFIT_VALIDATION_TOL` (:func:`_stalled`) and the training loss
    has fallen by at most :data:`REFIT_LOSS_TOL` of itself per iteration. A
    fit that has reached the noise creeps on the training rows and not on
    the held-out ones; a fit still learning fast, as on a smooth simulator,
    goes on even where a few held-out rows do not see its progress (there the
    held-out error falls in steps, between plateaus). ``stop.fired`` says
    whether it stopped the refit.
    """
    held = held_out.with_directions(len(train.module.F))
    scores, losses = [], []

    def stop(F, readout=None):
        if readout is None:
            J, _, beta, b = train.evaluate(F, gradient=False)
        else:
            J, beta, b = readout
        losses.append(J)
        scores.append(_score(scoring, held.Y, held.predict(F, beta, b), held.w))
        slow = settled(losses, REFIT_NO_CHANGE, REFIT_LOSS_TOL, REFIT_LOOK)
        stop.fired = slow and _stalled(
            scores, REFIT_NO_CHANGE, REFIT_VALIDATION_TOL, scoring
        )
        return stop.fired

    stop.fired = False
    return stop


def _readout(loss, F, alphas):
    """The loss at the alpha chosen for ``F`` (or at its own, without a
    grid), with ``beta``, ``b`` and ``alpha``."""
    if alphas is None:
        _, _, beta, b = loss.evaluate(F, gradient=False)
        return loss, beta, b, loss.alpha
    loss, fit = loss.choose_alpha(F, alphas)
    return loss, fit.coef, fit.intercept, fit.alpha_


def fit_varpro(
    loss,
    n_directions,
    *,
    max_iter,
    tol,
    rng,
    alphas=None,
    validation_fraction=0.1,
    n_iter_no_change=2,
    validation_tol=1e-2,
    scoring="r2",
    n_threads=None,
):
    """Grow directions, their number given or chosen on held-out rows, then
    refine them on all rows.

    Each growth step fits new directions to the residual of the others
    (:func:`_new_directions`) and refits all of them jointly by L-BFGS
    (:func:`minimise`). The structure is found on a subsample of the rows
    when there are many (:data:`ROWS_PER_PARAMETER`), and refined on all of
    them from where the growth left it.

    With ``n_directions=None`` the size is chosen by validation, as
    scikit-learn's early stopping chooses the iteration: a
    ``validation_fraction`` of the rows (drawn from ``rng``) is held out, the
    growth adds ``ceil(GROWTH_RATE n)`` directions per step and scores the
    readout on them after each step, and stops when ``n_iter_no_change``
    steps have not improved the score by more than ``validation_tol``
    (:func:`_stalled`: for ``"r2"`` and ``"neg_mean_squared_error"``, a
    relative decrease of the held-out error), or at :func:`max_directions`
    of the training rows. Each step's refit also stops as early stopping
    would (:func:`_held_out_monitor`): once the held-out score has stopped
    improving and the training loss falls by at most
    :data:`REFIT_LOSS_TOL` of itself per iteration, the fit creeping into the
    noise. The step of the best score is kept and refined on all rows, the
    held-out ones included: its size is chosen, and the readout of more rows
    is the better one. If the held-out rows had ended that step's refit on
    every training row, the refinement stops once the loss falls by at most
    ``max(tol, REFIT_LOSS_TOL)`` of itself per iteration, the progress they
    showed to no longer pay; after a growth on a subsample, at ``tol``.

    The ridge of the readout is fixed while L-BFGS runs (``J`` stays one
    function of ``F``, which its line search and its curvature pairs need),
    and, with a grid ``alphas``, chosen again by leave-one-out before each
    joint refit and for the final readout (:meth:`ReducedLoss.choose_alpha`).

    Parameters
    ----------
    loss : ReducedLoss
        On all rows, at the ridge used without a grid.
    n_directions : int or None
        The directions, or None to choose them by validation.
    max_iter : int
        L-BFGS iterations of the final refit (and of the last growth step).
    tol : float
        Stop a refit when ``J`` falls by less than this, relatively, per
        iteration (over :data:`TOL_WINDOW` iterations).
    rng : numpy.random.RandomState
    alphas : array-like of shape (n_alphas,), default=None
        The grid of the readout's ridge (for weights summing to 1 and
        standardised slots; :data:`ALPHAS` is a good one), or None for
        ``loss.alpha``.
    validation_fraction : float, default=0.1
        Held-out rows, with ``n_directions=None``.
    n_iter_no_change : int, default=2
        Growth steps without improvement before stopping.
    validation_tol : float, default=1e-2
        The least improvement of the held-out score that counts: for
        ``"r2"`` and ``"neg_mean_squared_error"``, the held-out error must
        fall by this fraction of itself (a step adds a quarter more
        parameters; it must pay for them); for a callable, the score must
        rise by this much (scikit-learn's absolute ``tol``).
    scoring : {"r2", "neg_mean_squared_error"} or callable, default="r2"
        The held-out score, in the scaled units; a callable is
        ``scoring(y_true, y_pred, sample_weight=w) -> float``, higher
        better.
    n_threads : int, default=None
        Threads for the passes over the rows
        (:func:`~sklearn_attnpoly._threads.one_pool`); by default torch's.

    Returns
    -------
    VarproResult
    """
    with one_pool(n_threads):
        return _fit_varpro(
            loss,
            n_directions,
            max_iter=max_iter,
            tol=tol,
            rng=rng,
            alphas=None if alphas is None else np.atleast_1d(alphas),
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            validation_tol=validation_tol,
            scoring=scoring,
        )


def _fit_varpro(
    loss,
    n_directions,
    *,
    max_iter,
    tol,
    rng,
    alphas,
    validation_fraction,
    n_iter_no_change,
    validation_tol,
    scoring,
):
    n_samples, d = loss.X.shape
    q = loss.degree
    auto = n_directions is None
    train, held_out = loss, None
    if auto:
        held = _held_out_rows(loss.X, loss.Y, validation_fraction, rng)
        held_out = loss.subset(np.flatnonzero(held))
        train = loss.subset(np.flatnonzero(~held))
        # rows counted by their weights: a row of weight k is k rows
        cap = max_directions(int(train.row_weight.sum()), d, q)
    else:
        cap = n_directions
    n_train = len(train.X)
    order = None  # drawn when a subsample is first needed

    def rows_for(n):
        nonlocal order
        n_sub = max(MIN_SUBSAMPLE, ROWS_PER_PARAMETER * (n * (d + q) + 1))
        if n_train <= 2 * n_sub:
            return train
        if order is None:
            order = rng.permutation(n_train)
        return train.subset(np.sort(order[:n_sub]))

    curve, n_iter, scores, kept, sizes = [], 0, [], [], []
    F = np.zeros((0, d))
    fixed_step = -(-cap // GROWTH_STEPS)
    grow_on = rows_for(cap)
    while len(F) < cap:
        add = int(math.ceil(GROWTH_RATE * len(F))) if auto else fixed_step
        add = max(1, min(add, cap - len(F)))
        if auto:
            grow_on = rows_for(len(F) + add)
        F = np.vstack(
            [F, _new_directions(grow_on.with_directions(len(F)), F, add, rng, max_iter)]
        )
        last = len(F) == cap
        sized = grow_on.with_directions(len(F))
        if alphas is not None:
            sized, _ = sized.choose_alpha(F, alphas)
        monitor = _held_out_monitor(sized, held_out, scoring) if auto else None
        F, losses, converged = minimise(
            sized,
            F,
            max_iter=max_iter if last and not auto else min(INNER_ITER, max_iter),
            tol=tol,
            monitor=monitor,
        )
        curve += losses[1:]
        n_iter += len(losses) - 1
        sizes.append(len(F))
        if auto:
            _, beta, b, _ = _readout(sized, F, alphas)
            prediction = held_out.with_directions(len(F)).predict(F, beta, b)
            scores.append(_score(scoring, held_out.Y, prediction, held_out.w))
            # whether the held-out rows ended a refit on every training row
            kept.append((F, monitor.fired and grow_on is train))
            if _stalled(scores, n_iter_no_change, validation_tol, scoring):
                break
    final_tol = tol
    if auto:
        F, ended_by_held_out = kept[int(np.argmax(scores))]
        if ended_by_held_out:
            # slower progress did not pay on the held-out rows, for a fit on
            # every training row (not for one on a subsample: all the rows
            # may carry it further)
            final_tol = max(tol, REFIT_LOSS_TOL)
    full = loss.with_directions(len(F))
    if grow_on is not loss:
        if alphas is not None:
            full, _ = full.choose_alpha(F, alphas)
        F, losses, converged = minimise(full, F, max_iter=max_iter, tol=final_tol)
        curve += losses[1:]
        n_iter += len(losses) - 1
    if not converged:
        warnings.warn(
            f"solver='varpro' stopped after max_iter={max_iter} iterations of its "
            f"last refit before the loss settled (tol={final_tol}); increase "
            "max_iter.",
            ConvergenceWarning,
            stacklevel=4,
        )
    _, beta, b, alpha = _readout(full, F, alphas)
    return VarproResult(
        F=F,
        beta=beta,
        b=b,
        alpha_=alpha,
        n_directions_=len(F),
        validation_score_=np.array(scores) if auto else None,
        step_sizes=sizes,
        n_iter=n_iter,
        loss_curve=curve,
        converged=converged,
        n_rows_grown=len(grow_on.X),
    )


def fit_directions(loss, n_directions, *, max_iter, tol, rng):
    """Grow ``n_directions`` directions at ``loss.alpha``, then refine them
    on all rows: :func:`fit_varpro` with a fixed size and ridge.

    Returns
    -------
    F : ndarray of shape (n_directions, n_features)
    record : dict
        ``loss_curve``, ``n_iter``, ``converged``, ``n_rows_grown``, as in
        :class:`VarproResult`.
    """
    result = fit_varpro(loss, n_directions, max_iter=max_iter, tol=tol, rng=rng)
    return result.F, {
        "loss_curve": result.loss_curve,
        "n_iter": result.n_iter,
        "converged": result.converged,
        "n_rows_grown": result.n_rows_grown,
    }
