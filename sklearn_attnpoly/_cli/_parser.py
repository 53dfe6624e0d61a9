"""The commands of ``sklearn-attnpoly`` and their options."""

import argparse
import math
from pathlib import Path

from ._fit_csv import fit_csv
from ._paper_commands import demo, reproduce

#: The top of ``sklearn-attnpoly --help``.
DESCRIPTION = """\
Command line of sklearn-attnpoly.

demo       compare the attention model with its baselines on the paper's
           f1 and f2 (fast settings), and check the exact f2 network
reproduce  the paper's protocol: Table 1 and Figures 2 and 3
fit        fit a CSV file: metrics, the recovered polynomial, a saved model
"""


def _whole_number(minimum):
    """An argparse ``type``: an integer of at least ``minimum``."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a whole number"
            ) from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}; got {value}")
        return value

    parse.__name__ = f"whole number >= {minimum}"
    return parse


def _non_negative_number(text):
    """An argparse ``type``: a finite number of at least 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0; got {text}")
    return value


_non_negative_number.__name__ = "number >= 0"


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, like the command's
    own errors (:class:`~._errors.InputError`); ``--help`` still shows the
    usage."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser():
    """The parser of ``sklearn-attnpoly``; each command's function is its
    ``run`` default."""
    parser = _Parser(
        prog="sklearn-attnpoly",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--threads",
        type=_whole_number(1),
        default=None,
        help="CPU threads of torch and of the BLAS (default: their own "
        "choice); 1 is much faster on a busy machine",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo_parser = sub.add_parser("demo", help="compare with the baselines on f1 and f2")
    _add_out_and_seed(demo_parser, "attnpoly-demo", "the plots")
    demo_parser.set_defaults(run=demo)

    _add_reproduce(sub)
    _add_fit(sub)
    return parser


def _add_reproduce(sub):
    rep = sub.add_parser("reproduce", help="the paper's Table 1 and Figures 2, 3")
    _add_out_and_seed(rep, "attnpoly-reproduce", "JSON, Markdown and plots")
    rep.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run of under a minute, not the paper's budget",
    )
    rep.add_argument(
        "--tasks",
        nargs="+",
        choices=("f1", "f2"),
        default=["f1", "f2"],
        help="which experiments to run (default: both)",
    )
    rep.add_argument(
        "--jobs",
        type=_whole_number(1),
        default=None,
        help="models trained at once, each in its own process (default: the "
        "CPUs available, at most the number of runs); with more than one, each "
        "process gets --threads torch threads, by default CPUs / jobs",
    )
    rep.add_argument(
        "--models",
        nargs="+",
        choices=("ATTENTION", "NN_depth", "NN_width"),
        default=("ATTENTION", "NN_depth", "NN_width"),
        help="the paper's models to run (default: all three)",
    )
    rep.add_argument(
        "--readout-init",
        choices=("lstsq", "zeros"),
        default="lstsq",
        help="start of the attention readout (default: lstsq)",
    )
    from ..paper._protocol import PAPER_TASKS

    for task, spec in PAPER_TASKS.items():
        rep.add_argument(
            f"--{task}-epochs",
            type=_whole_number(1),
            help=f"epochs (paper: {spec['max_epochs']})",
        )
        rep.add_argument(
            f"--{task}-batch-size",
            type=_whole_number(1),
            help=f"batch size (paper: {spec['batch_size']})",
        )
        rep.add_argument(
            f"--{task}-n-samples",
            type=_whole_number(10),
            help=f"rows drawn, 10%% held out for testing (paper: {spec['n_samples']})",
        )
        n = spec["n_directions"]
        paper_n = f"the {spec['n_lattice']} lattice directions" if n is None else str(n)
        rep.add_argument(
            f"--{task}-n-directions",
            type=_whole_number(1),
            help=f"rows of F for {task} (paper: {paper_n})",
        )
    rep.set_defaults(run=reproduce)


def _add_fit(sub):
    fit = sub.add_parser("fit", help="fit a CSV file")
    fit.add_argument("data", type=Path, help="CSV file with a header row")
    fit.add_argument("--target", required=True, help="the column to predict")
    fit.add_argument(
        "--degree", type=_whole_number(1), required=True, help="q, the degree"
    )
    fit.add_argument("--solver", choices=("lstsq", "sgd", "adam"), default="lstsq")
    fit.add_argument(
        "--alpha",
        type=_non_negative_number,
        default=None,
        help="ridge strength of the readout (default: 1e-8, a numerical safeguard)",
    )
    fit.add_argument(
        "--max-epochs",
        type=_whole_number(1),
        default=100,
        help="epochs of the gradient solvers (default: 100)",
    )
    fit.add_argument(
        "--test-size",
        type=float,
        default=0.2,
        help="fraction held out for testing (default: 0.2)",
    )
    fit.add_argument(
        "--terms",
        type=_whole_number(0),
        default=10,
        help="how many of the largest terms to print (default: 10)",
    )
    fit.add_argument(
        "--cv",
        type=_whole_number(2),
        metavar="K",
        help="choose the degree (1 to --degree) and alpha by K-fold "
        "cross-validation on the training rows (lstsq)",
    )
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--save", type=Path, help="save the model here with joblib")
    fit.add_argument("--plot", type=Path, help="predicted-vs-actual plot (PNG)")
    fit.set_defaults(run=fit_csv)


def _add_out_and_seed(parser, default_out, what):
    """The ``--out`` and ``--seed`` options that ``demo`` and ``reproduce`` share."""
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(default_out),
        help=f"folder for {what} (default: ./{default_out})",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the data, its split and the models (default: 0)",
    )
