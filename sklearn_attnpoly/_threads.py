"""One pool of threads: ours, with every library's own pool at one thread.

numpy and scipy each link their own OpenBLAS, and torch its OpenMP runtime
(and MKL on it); each library starts a pool of threads for its own calls, and
its threads spin, waiting for the next call, for a while after each one. A
solver that alternates small calls between the libraries -- a chain of blocks
in torch, then a Gram matrix in numpy, then a small eigendecomposition in
scipy -- has two or three pools spinning against each other for the same
cores; varpro ran several times slower at two threads than at one
(``benchmarks/README.md``, ``python benchmarks/learned_directions.py
--sections threads``).

The cure is to keep one pool only. :func:`one_pool` sets every library's pool
to one thread (:mod:`threadpoolctl` for the BLAS and OpenMP libraries, and
:func:`torch.set_num_threads`) and gives back the number of threads the caller
had, which :func:`parallel_map` then spends on independent pieces of work
(chunks of rows): numpy and torch release the
interpreter's lock in their kernels, so the pieces run side by side, each at
one thread. The results are gathered in the order of the pieces and reduced in
that order, so the numbers are the same, bit for bit, at any number of threads.
"""

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import torch
from threadpoolctl import threadpool_limits

_state = threading.local()
_executors = {}
_executors_lock = threading.Lock()
# a forked child has the executors but not their threads: it starts its own
os.register_at_fork(after_in_child=_executors.clear)


def workers():
    """Return the threads :func:`parallel_map` spends: those the caller had
    when it entered :func:`one_pool`, or 1 outside it.

    Returns
    -------
    int
    """
    return getattr(_state, "workers", 1)


@contextlib.contextmanager
def one_pool(n_threads=None):
    """Run the body with every library's pool at one thread.

    Parameters
    ----------
    n_threads : int, default=None
        Threads for :func:`parallel_map` inside the body; by default
        :func:`torch.get_num_threads` at entry (``OMP_NUM_THREADS``, or
        :func:`torch.set_num_threads`, as the caller set it).

    Yields
    ------
    int
        The threads :func:`parallel_map` will spend.

    Examples
    --------
    >>> from sklearn_attnpoly._threads import one_pool, parallel_map
    >>> with one_pool(2):
    ...     parallel_map(lambda k: k * k, range(4))
    [0, 1, 4, 9]
    """
    if n_threads is None:
        n_threads = torch.get_num_threads()
    outer = (workers(), torch.get_num_threads())
    try:
        with threadpool_limits(limits=1):
            torch.set_num_threads(1)
            _state.workers = max(1, int(n_threads))
            yield _state.workers
    finally:
        _state.workers = outer[0]
        torch.set_num_threads(outer[1])


def parallel_map(function, items):
    """``[function(item) for item in items]``, on :func:`workers` threads.

    The results come back in the order of ``items``, so a reduction over them
    in that order does not depend on the number of threads.

    Parameters
    ----------
    function : callable
    items : iterable

    Returns
    -------
    list
    """
    items = list(items)
    n = min(workers(), len(items))
    if n <= 1:
        return [function(item) for item in items]
    with _executors_lock:
        if n not in _executors:
            # torch's thread count is per thread for its OpenMP runtime: a new
            # thread would start a team of every core for each of its calls
            _executors[n] = ThreadPoolExecutor(
                n,
                thread_name_prefix="attnpoly",
                initializer=torch.set_num_threads,
                initargs=(1,),
            )
        executor = _executors[n]
    return list(executor.map(function, items))
