"""``python -m sklearn_attnpoly``: the command line (:mod:`sklearn_attnpoly._cli`)."""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
