"""The entry point (``_cli/_main.py``) as a user runs it, in its own process."""

import subprocess
import sys


def test_entry_point_reports_bad_input_without_traceback(tmp_path):
    # the real process: exit status and stderr as a user sees them
    missing = tmp_path / "missing.csv"
    argv = ["fit", str(missing), "--target", "y", "--degree", "2"]
    result = subprocess.run(
        [sys.executable, "-m", "sklearn_attnpoly", *argv],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(
        f"sklearn-attnpoly fit: error: cannot read {missing}: "
    )
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
