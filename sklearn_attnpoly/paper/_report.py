"""The reproduction's report: ``results.json`` and ``table1.md``.

:func:`write_reproduction` runs the paper's protocol
(:func:`~._experiments.run_reproduce`) and writes what ``sklearn-attnpoly
reproduce`` leaves in its folder besides the plots.
"""

import json
import time

from ._experiments import TABLE_1_COLUMNS, markdown_table, run_reproduce


def write_reproduction(
    out, *, settings, models, readout_init, seed, n_jobs, threads, command
):
    """Run the paper's protocol and write its report into ``out``.

    Parameters
    ----------
    out : pathlib.Path
        Folder for ``results.json``, ``table1.md`` and the plots.
    settings : dict
        ``{task: {"n_samples", "epochs", "batch_size", "n_directions"}}``, as
        in :data:`~._experiments.REPRODUCE_SETTINGS`; its tasks are run.
    models : sequence of str
        The paper's models to run.
    readout_init : {"lstsq", "zeros"}
        Start of the attention model's readout.
    seed : int
    n_jobs : int
        Runs at once (worker processes when more than 1).
    threads : int
        torch threads of each run, recorded in the report (and given to the
        workers when ``n_jobs > 1``).
    command : str
        The command line, recorded in the report and in the table's title.

    Returns
    -------
    str
        The text of ``table1.md``: one Table 1 per task and the total time.

    Notes
    -----
    ``results.json`` is written after every run, with ``"complete": false``
    until the last, so that a long run cut short keeps its finished rows;
    ``table1.md`` is written once all runs are done.
    """
    start = time.perf_counter()

    def save(results, complete=False):
        report = {
            "command": command,
            "complete": complete,
            "settings": settings,
            "readout_init": readout_init,
            "models": list(models),
            "seed": seed,
            "jobs": n_jobs,
            "torch_threads": threads,
            "total_time_s": round(time.perf_counter() - start, 1),
            "results": results,
        }
        (out / "results.json").write_text(json.dumps(report, indent=2))
        return report

    results = run_reproduce(
        out,
        settings=settings,
        readout_init=readout_init,
        seed=seed,
        n_jobs=n_jobs,
        worker_threads=threads,
        on_result=save,
        models=models,
    )
    report = save(results, complete=True)
    text = [f"# Reproduction ({command})", ""]
    for task in results:
        s = settings[task]
        text += [
            f"## {task}: {s['n_samples']} samples, {s['epochs']} epochs of "
            f"batch {s['batch_size']}",
            "",
            markdown_table(results[task], TABLE_1_COLUMNS),
            "",
        ]
    runs = "run" if n_jobs == 1 else "runs"
    text.append(
        f"Total time {report['total_time_s']:.0f} s, {n_jobs} {runs} at a time, "
        f"{threads} torch thread(s) each."
    )
    text = "\n".join(text) + "\n"
    (out / "table1.md").write_text(text)
    return text
