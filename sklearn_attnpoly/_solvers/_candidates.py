"""Many one-direction reduced losses at once, and L-BFGS run on each of them.

The growth of the varpro solver (:mod:`~sklearn_attnpoly._solvers._varpro`)
fits each new direction alone to the residual of the others, from a dozen or
so starts: independent problems of ``n_features`` parameters on a few thousand
rows. Fitted one after another, each iteration of each start is a pass of a
few hundred microseconds made of small calls; here the starts are stacked, so
that one pass of a few batched calls evaluates the reduced loss of every start
(:class:`OneDirectionLosses`), and :func:`minimise_each` runs one L-BFGS per
start on them, with its own memory, line search and stopping rule, so that a
start's path does not depend on the others.

For the exact blocks the slots of a direction ``xi`` are the powers ``s_k =
u^k``, ``u = -xi . x`` (Lemma 3.1), and the reduced loss and its envelope
gradient are those of :class:`~sklearn_attnpoly._solvers._varpro.ReducedLoss`
on one direction: the ridge on the slots standardised under the weights, and

    dJ/du_n = 2 w_n sum_k k u_n^(k-1) [alpha ||beta_k||^2 (s_nk - m_k) - beta_k r_n],
    dJ/dxi = -sum_n dJ/du_n x_n.
"""

from collections import deque

import numpy as np

from ._readout import RCOND

#: Pairs of steps and gradient changes each start's L-BFGS keeps (scipy's
#: ``maxcor`` default).
MEMORY = 10
#: Armijo's constant of sufficient decrease, and the most halvings of a step.
ARMIJO = 1e-4
MAX_HALVINGS = 30


class OneDirectionLosses:
    """The reduced loss of many single directions on the same rows.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Scaled inputs, inside the blocks' radius.
    Y : ndarray of shape (n_samples, n_outputs)
        Targets.
    w : ndarray of shape (n_samples,)
        Positive weights that sum to 1.
    alpha : float
        Ridge strength on the standardised slots.
    degree : int
        The slots ``u, u^2, ..., u^degree``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_attnpoly._solvers._candidates import OneDirectionLosses
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-0.5, 0.5, (200, 3))
    >>> y = (X @ [1.0, 0.0, 0.0]) ** 2
    >>> losses = OneDirectionLosses(X, y[:, None], np.full(200, 1 / 200), 1e-8, 2)
    >>> J, grad = losses.evaluate(np.eye(3))

    Along the first axis the target is a slot: only the ridge's penalty is
    left, ``alpha`` times the squared standardised coefficient (the
    target's variance); the other axes explain almost none of it.

    >>> print(np.round(J / y.var(), 6))
    [0.       0.997491 0.999606]
    >>> print(f"{J[0] / (1e-8 * y.var()):.6f}")
    1.000000
    """

    def __init__(self, X, Y, w, alpha, degree):
        self.X = np.ascontiguousarray(X, dtype=np.float64)
        self.X_t = np.ascontiguousarray(self.X.T)
        self.w = np.asarray(w, dtype=np.float64)
        Y = np.asarray(Y, dtype=np.float64).reshape(len(self.X), -1)
        self.Y_centred = Y - self.w @ Y
        self.alpha = float(alpha)
        self.degree = int(degree)

    def evaluate(self, Xi):
        """``J`` and ``dJ/dxi`` of each row of ``Xi``.

        Parameters
        ----------
        Xi : ndarray of shape (n_directions, n_features)

        Returns
        -------
        J : ndarray of shape (n_directions,)
        grad : ndarray of shape (n_directions, n_features)
        """
        q, w, alpha = self.degree, self.w, self.alpha
        K = len(Xi)
        u = Xi @ self.X_t  # (K, rows)
        np.negative(u, out=u)
        S = np.empty((K, q, u.shape[1]))
        S[:, 0] = u
        for k in range(1, q):
            np.multiply(S[:, k - 1], u, out=S[:, k])
        mean = S @ w  # (K, q)
        S -= mean[:, :, None]
        Sw = S * w
        gram = Sw @ S.transpose(0, 2, 1)  # (K, q, q)
        cross = Sw @ self.Y_centred  # (K, q, o)
        spread = np.sqrt(np.clip(np.diagonal(gram, axis1=1, axis2=2), 0.0, None))
        spread = np.where(spread == 0, 1.0, spread)
        correlation = gram / spread[:, :, None] / spread[:, None, :]
        coef = ridge_coefficients(correlation, cross / spread[:, :, None], alpha)
        beta = coef / spread[:, :, None]  # (K, q, o)
        residual = self.Y_centred.T[None] - beta.transpose(0, 2, 1) @ S  # (K, o, rows)
        J = (residual * residual) @ w
        J = J.sum(axis=1) + alpha * (coef * coef).sum(axis=(1, 2))
        # k times the bracket of dJ/du, slot by slot: k alpha ||beta_k||^2 (s -
        # m) - k beta_k r
        k = np.arange(1.0, q + 1)[:, None]
        S *= k * alpha * (beta * beta).sum(axis=2, keepdims=True)
        if residual.shape[1] == 1:  # an outer product: broadcast, not matmul
            S -= (k * beta) * residual
        else:
            S -= (k * beta) @ residual
        # sum_k k u^(k-1) D_k, by Horner in u
        du = S[:, q - 1].copy()
        for j in range(q - 1, 0, -1):
            du *= u
            du += S[:, j - 1]
        du *= -2.0 * w  # dJ/dxi = -sum_n dJ/du_n x_n
        return J, du @ self.X


def ridge_coefficients(correlation, rhs, alpha):
    """The ridge's standardised coefficients for a stack of slot systems: by
    one solve where the penalty keeps every eigenvalue above ``RCOND`` of the
    largest (the eigenvalues of a correlation matrix are at most its size),
    otherwise by the eigendecomposition's pseudo-inverse, eigenvalues below
    ``RCOND`` of the largest (penalty included) dropped, as
    :class:`~sklearn_attnpoly._solvers._loo_ridge.EigenRidge` drops them.

    Parameters
    ----------
    correlation : ndarray of shape (K, p, p)
    rhs : ndarray of shape (K, p, n_outputs)
    alpha : float

    Returns
    -------
    ndarray of shape (K, p, n_outputs)
    """
    p = correlation.shape[-1]
    if alpha > RCOND * (p + alpha):  # condition number below 1 / RCOND
        return np.linalg.solve(correlation + alpha * np.eye(p), rhs)
    eigenvalues, V = np.linalg.eigh(correlation)
    regularised = eigenvalues + alpha
    keep = regularised > RCOND * regularised.max(axis=1, keepdims=True)
    inverse = np.where(keep, 1.0 / np.where(keep, regularised, 1.0), 0.0)
    return V @ (inverse[:, :, None] * (V.transpose(0, 2, 1) @ rhs))


def settled(losses, window, tol, spacing=1):
    """Whether a loss has settled: its mean relative decrease per iteration
    over its last ``window`` values, ``spacing`` iterations apart, is at most
    ``tol`` (False until there are ``window + 1`` values).

    Examples
    --------
    >>> from sklearn_attnpoly._solvers._candidates import settled
    >>> settled([1.0, 0.99, 0.98], 2, 1e-2), settled([1.0, 0.9, 0.8], 2, 1e-2)
    (False, False)
    >>> settled([1.0, 0.9995, 0.999], 2, 1e-3), settled([1.0, 0.9], 2, 1.0)
    (True, False)
    """
    if len(losses) <= window:
        return False
    now = losses[-1]
    decrease = (losses[-1 - window] - now) / (window * spacing * max(abs(now), 1e-300))
    return decrease <= tol


def minimise_each(losses, starts, *, max_iter, tol, window):
    """One L-BFGS per start, on the unit sphere, all evaluated together.

    Each start's directions are ``xi = v / ||v||``, as
    :func:`~sklearn_attnpoly._solvers._varpro.minimise` parametrises them,
    and its loss is scaled by its value at the start. Each start keeps its own
    :data:`MEMORY` pairs and its own backtracking line search (Armijo's
    condition from a unit step; the first step is at most of unit length),
    and stops after ``max_iter`` iterations, when the mean relative decrease
    of its loss over the last ``window`` iterations is at most ``tol``, or
    when its line search finds no decrease; a stopped start is no longer
    evaluated.

    Parameters
    ----------
    losses : OneDirectionLosses
    starts : ndarray of shape (n_starts, n_features)
    max_iter : int
    tol : float
    window : int

    Returns
    -------
    Xi : ndarray of shape (n_starts, n_features)
        Unit rows.
    J : ndarray of shape (n_starts,)
        The loss of each at its last iterate.
    """
    V = np.array(starts, dtype=np.float64)
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    K = len(V)
    J0, _ = losses.evaluate(V)
    scale = 1.0 / np.maximum(J0, np.finfo(float).tiny)

    def objective(V, rows):
        norms = np.linalg.norm(V, axis=1, keepdims=True)
        Xi = V / norms
        J, grad = losses.evaluate(Xi)
        grad -= (grad * Xi).sum(axis=1, keepdims=True) * Xi  # tangent to the sphere
        return J * scale[rows], grad / norms * scale[rows, None]

    f, g = objective(V, np.arange(K))
    history = [[J0[k]] for k in range(K)]
    memory = deque(maxlen=MEMORY)  # (s, y, rho) of shape (K, d), (K, d), (K,)
    active = np.ones(K, dtype=bool)
    first = np.ones(K, dtype=bool)
    for _ in range(max_iter):
        if not active.any():
            break
        p = -_two_loop(g, memory)
        slope = (g * p).sum(axis=1)
        restart = slope >= 0  # not a descent direction: forget, go downhill
        p[restart], slope[restart] = -g[restart], -(g[restart] ** 2).sum(axis=1)
        for _, _, rho in memory:
            rho[restart] = 0.0
        first |= restart
        length = np.linalg.norm(p, axis=1)
        step = np.where(first, 1.0 / np.maximum(length, 1.0), 1.0)
        searching = active & (slope < 0)
        accepted = np.zeros(K, dtype=bool)
        f_new, g_new, V_new = f.copy(), g.copy(), V.copy()
        for _ in range(MAX_HALVINGS):
            rows = np.flatnonzero(searching)
            if not len(rows):
                break
            trial = V[rows] + step[rows, None] * p[rows]
            f_trial, g_trial = objective(trial, rows)
            good = f_trial <= f[rows] + ARMIJO * step[rows] * slope[rows]
            done = rows[good]
            f_new[done], g_new[done] = f_trial[good], g_trial[good]
            V_new[done] = trial[good]
            accepted[done] = True
            searching[done] = False
            step[rows[~good]] *= 0.5
        failed = active & ~accepted
        s, y = V_new - V, g_new - g
        sy = (s * y).sum(axis=1)
        rho = np.where(accepted & (sy > 1e-10 * np.linalg.norm(s, axis=1)
                                   * np.linalg.norm(y, axis=1)),
                       1.0 / np.where(sy == 0, 1.0, sy), 0.0)  # fmt: skip
        memory.append((s, y, rho))
        f, g, V = f_new, g_new, V_new
        first &= ~accepted
        for k in np.flatnonzero(accepted):
            history[k].append(f[k] / scale[k])
            if settled(history[k], window, tol):
                active[k] = False
        active &= ~failed
    return V / np.linalg.norm(V, axis=1, keepdims=True), f / scale


def _two_loop(g, memory):
    """L-BFGS's product of its inverse Hessian estimate with ``g``, for every
    start at once (a pair of ``rho = 0`` is no pair)."""
    q = g.copy()
    alphas = []
    for s, y, rho in reversed(memory):
        a = rho * (s * q).sum(axis=1)
        q -= a[:, None] * y
        alphas.append(a)
    gamma, found = np.ones(len(g)), np.zeros(len(g), dtype=bool)
    for _, y, rho in reversed(memory):  # the newest pair that counts scales H0
        yy = (y * y).sum(axis=1)
        use = (rho > 0) & ~found & (yy > 0)
        gamma = np.where(use, 1.0 / np.where(use, rho * yy, 1.0), gamma)
        found |= use
    r = gamma[:, None] * q
    for (s, y, rho), a in zip(memory, reversed(alphas), strict=True):
        b = rho * (y * r).sum(axis=1)
        r += (a - b)[:, None] * s
    return r
