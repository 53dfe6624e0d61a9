"""``main``: parse the command line, run the command, report bad input."""

import contextlib
import sys

import torch
from threadpoolctl import threadpool_limits

from ._errors import InputError
from ._parser import build_parser


def main(argv=None):
    """Run the command line; returns the exit code (2 for bad input)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    threads = torch.get_num_threads()
    limits = contextlib.nullcontext()
    if args.threads is not None:  # torch's threads and the BLAS's alike
        torch.set_num_threads(args.threads)
        limits = threadpool_limits(args.threads)
    try:
        with limits:
            return args.run(args)
    except InputError as exc:
        print(f"sklearn-attnpoly {args.command}: error: {exc}", file=sys.stderr)
        return 2
    finally:
        torch.set_num_threads(threads)
