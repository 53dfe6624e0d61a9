"""The command line's parser (``_cli/_parser.py``): bad numbers and missing
arguments are usage errors, exit status 2."""

import pytest

from sklearn_attnpoly import _cli as cli
from sklearn_attnpoly._cli._parser import build_parser


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--degree", "0"], "argument --degree: must be at least 1; got 0"),
        (["--degree", "-2"], "argument --degree: must be at least 1; got -2"),
        (["--degree", "abc"], "argument --degree: 'abc' is not a whole number"),
        (["--degree", "2.5"], "argument --degree: '2.5' is not a whole number"),
        (["--degree", "2", "--terms", "-1"], "argument --terms: must be at least 0"),
        (
            ["--degree", "2", "--max-epochs", "0"],
            "argument --max-epochs: must be at least 1; got 0",
        ),
        (
            ["--degree", "2", "--alpha", "-1"],
            "argument --alpha: must be a finite number >= 0; got -1",
        ),
        (
            ["--degree", "2", "--alpha", "nan"],
            "argument --alpha: must be a finite number >= 0; got nan",
        ),
        (["--degree", "2", "--alpha", "x"], "argument --alpha: 'x' is not a number"),
    ],
)
def test_bad_numbers_are_one_line(csv_file, capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        cli.main(["fit", str(csv_file), "--target", "y", *argv])
    assert exc.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"sklearn-attnpoly fit: error: {message}")
    assert captured.err.endswith("(see sklearn-attnpoly fit --help)\n")
    assert captured.err.count("\n") == 1


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["fit", "data.csv", "--degree", "2"])
    assert exc.value.code == 2
    assert "the following arguments are required: --target" in capsys.readouterr().err


@pytest.mark.parametrize("command", [[], ["demo"], ["reproduce"], ["fit"]])
def test_every_help_page_prints(command, capsys):
    # the documentation's command line page is these pages, printed
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args([*command, "--help"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith("usage: ")
