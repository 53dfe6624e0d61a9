"""Rows in chunks: how every pass over many rows keeps its arrays small.

The readout's normal equations, the moments, the structured blocks' training
step and the paper's networks' training step all walk the rows of their input
a chunk at a time, so that a chunk's arrays stay in the processor's cache and
nothing of size ``rows x features`` is held at once.
"""


def rows_per_chunk(entries, row_width):
    """Rows of ``row_width`` entries that make about ``entries`` entries (at
    least one row)."""
    return max(1, entries // max(1, row_width))


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
