"""Rows in chunks: the one policy every pass over many rows follows.

The readout's normal equations, the moments, the fused chain of blocks and the
paper's networks' training step all walk the rows of their input a chunk at a
time, so that a chunk's arrays stay in the processor's cache between the
operations that make and use them, and nothing of size ``rows x features`` is
held at once. Each pass says how many bytes one row of its chunk occupies, all
its per-row arrays together, and takes :func:`rows_per_chunk` rows: about
:data:`CHUNK_BYTES` in all.
"""

#: Bytes of the arrays one chunk of rows holds. Small enough to stay in a
#: processor's outer caches, large enough that the fixed cost of each of a
#: chunk's tensor or BLAS calls (microseconds) stays small against its work;
#: chosen by ``python benchmarks/chunks.py`` (measured in
#: ``benchmarks/README.md``).
CHUNK_BYTES = 2**23
#: Bytes of a chunk that elementwise work reads many times over (the varpro
#: solver's slots, centred, scaled and differentiated in place): about a
#: core's own (L2) cache. Measured at f2's shape with 24 directions (one
#: evaluation of the reduced loss with its gradient, 45000 rows, a quiet
#: 2-core VM whose two cores share their 2 MiB L2): at one thread 41 ms for
#: 1 MiB chunks, 35 ms for 2 MiB, 37 ms for 4 MiB, 42 ms for 8 MiB; at two
#: threads 45, 37, 28 and 26 ms. Whole f2 fits at one and two threads: 4.7
#: and 5.6 s (2 MiB), 4.3 and 4.5 s (4 MiB), 5.4 and 4.3 s (8 MiB).
CACHE_CHUNK_BYTES = 2**22
#: Bytes of a chunk of the moments' pass (its monomial tables, about 470 rows
#: at f2's degree 10 in 10 features): larger than :data:`CHUNK_BYTES`, because
#: the tables are built by a hundred small calls per chunk that hold the
#: interpreter's lock, and each thread sums its own rows. Measured on the
#: 2-core VM of 2026-12-02 (the moments of f2, best of 4, at one and two
#: threads): 8 MiB 0.73 and 0.47 s, 16 MiB 0.66 and 0.39 s, 32 MiB 0.68 and
#: 0.36 s; the whole closed-form fit 0.97 and 0.78 s at 8 MiB, 0.85 and 0.62
#: s at 32 MiB.
MOMENT_CHUNK_BYTES = 2**25


def rows_per_chunk(row_bytes, chunk_bytes=None):
    """Rows of ``row_bytes`` bytes each that make about ``chunk_bytes`` (at
    least one row); ``chunk_bytes`` defaults to :data:`CHUNK_BYTES`, read at
    each call (tests lower it to make many chunks of small data).

    Examples
    --------
    >>> from sklearn_attnpoly._chunks import rows_per_chunk
    >>> rows_per_chunk(row_bytes=8 * 1000, chunk_bytes=2**20)
    131
    """
    if chunk_bytes is None:
        chunk_bytes = CHUNK_BYTES
    return max(1, chunk_bytes // max(1, row_bytes))


def row_chunks(n_rows, chunk_rows):
    """Slices ``[start, stop)`` of ``chunk_rows`` consecutive rows covering
    ``range(n_rows)``; the last holds what is left.

    Examples
    --------
    >>> from sklearn_attnpoly._chunks import row_chunks
    >>> list(row_chunks(5, 2))
    [slice(0, 2, None), slice(2, 4, None), slice(4, 5, None)]
    """
    for start in range(0, n_rows, chunk_rows):
        yield slice(start, min(start + chunk_rows, n_rows))
