"""``sklearn-attnpoly demo`` and ``reproduce``: the paper's laboratory
(:mod:`sklearn_attnpoly.paper`) run from the command line.

These functions turn the options into the laboratory's settings and processes
and print what it returns; the experiments and the reproduction's report are
the laboratory's own.
"""

import os
import time

import torch


def demo(args):
    """Run ``sklearn-attnpoly demo`` with the parsed ``args``."""
    from ..paper._experiments import (
        DEMO_COLUMNS,
        exact_f2_check,
        markdown_table,
        run_demo,
    )

    start = time.perf_counter()
    exact_f2_check()
    print()
    rows = run_demo(args.out, seed=args.seed)
    print(
        "Test MSE of each model (noise variance 1; 'vs f*' against the noiseless "
        "target)"
    )
    print(markdown_table(rows, DEMO_COLUMNS))
    print(f"\nPlots in {args.out}/; total {time.perf_counter() - start:.0f} s.")
    return 0


def available_cpus():
    """CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def reproduce(args):
    """Run ``sklearn-attnpoly reproduce`` with the parsed ``args``."""
    from ..paper._experiments import REPRODUCE_SETTINGS, reproduce_runs
    from ..paper._report import write_reproduction

    settings = REPRODUCE_SETTINGS["quick" if args.quick else "full"]
    settings = {task: dict(settings[task]) for task in args.tasks}
    for task in args.tasks:
        for key in ("epochs", "batch_size", "n_directions", "n_samples"):
            value = getattr(args, f"{task}_{key}")
            if value is not None:
                settings[task][key] = value
    n_runs = len(reproduce_runs(settings, args.models))
    cpus = available_cpus()
    n_jobs = min(args.jobs or cpus, n_runs)
    if n_jobs > 1:
        threads = args.threads or max(1, cpus // n_jobs)
    else:
        threads = torch.get_num_threads()
    text = write_reproduction(
        args.out,
        settings=settings,
        models=args.models,
        readout_init=args.readout_init,
        seed=args.seed,
        n_jobs=n_jobs,
        threads=threads,
        command="sklearn-attnpoly " + " ".join(args.argv),
    )
    print(text, end="")
    print(f"\nresults.json, table1.md and plots in {args.out}/")
    return 0
