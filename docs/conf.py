"""Sphinx configuration for sklearn-attnpoly.

Build the HTML docs from the repository root, warnings as errors::

    pip install -c constraints.txt -e ".[docs]"
    sphinx-build -W -b html docs docs/_build/html

The build runs every example of the gallery (``examples/plot_*.py``) and
validates every public docstring with numpydoc. It needs no network: the
links into other projects' docs (intersphinx) are made only when their
inventories can be reached.
"""

import os
import socket
import warnings
from urllib.parse import urlparse

from sklearn_attnpoly import __version__

project = "sklearn-attnpoly"
author = "sklearn-attnpoly developers"
copyright = "2026, sklearn-attnpoly developers"
release = __version__
version = ".".join(__version__.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    # MathJax from the package, not a CDN: the pages render offline too
    "sphinx-mathjax-offline",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "sphinx_design",
    "myst_parser",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3

# -- API pages ------------------------------------------------------------------

autosummary_generate = True
autodoc_typehints = "none"
autodoc_default_options = {"inherited-members": False}
# autosummary's pages list the members; numpydoc's own table would repeat them
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
# every public docstring is checked; ES01 (extended summary), SA01 (See Also)
# and EX01 (Examples) are not required of every function, and, as in
# scikit-learn's own docstring test, RT02 (a named single return, as in
# ``self : object``), GL01 and GL02 (the placement of a short docstring's
# quotes) are left to the writer
numpydoc_validation_checks = {"all", "ES01", "SA01", "EX01", "RT02", "GL01", "GL02"}
# what the package inherits (scikit-learn's mixins, torch's nn.Module) is
# documented by its own project
numpydoc_validation_exclude = {
    r"\.get_params$",
    r"\.set_params$",
    r"\.set_.*_request$",
    r"\.get_metadata_routing$",
    r"\.score$",
    r"\.__init__$",
}

# -- links into other projects' docs, when they can be reached ------------------

_INVENTORIES = {
    "python": "https://docs.python.org/3",
    "numpy": "https://numpy.org/doc/stable",
    "sklearn": "https://scikit-learn.org/stable",
    "torch": "https://docs.pytorch.org/docs/stable",
    "skorch": "https://skorch.readthedocs.io/en/stable",
    "dask": "https://docs.dask.org/en/stable",
}


def _reachable(url, timeout=2.0):
    host = urlparse(url).hostname
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError:
        return False
    return True


if os.environ.get("SKLEARN_ATTNPOLY_DOCS_OFFLINE") == "1":
    intersphinx_mapping = {}
else:
    intersphinx_mapping = {
        name: (url, None) for name, url in _INVENTORIES.items() if _reachable(url)
    }

# The docstrings the estimators inherit from scikit-learn (``score``) refer to
# labels of scikit-learn's own docs. Offline, intersphinx cannot resolve them;
# they link to scikit-learn's site instead of failing the build.
_SKLEARN_STABLE = "https://scikit-learn.org/stable/"
_SKLEARN_LABELS = {
    "r2_score": "modules/model_evaluation.html#r2-score",
    "metadata_routing": "metadata_routing.html",
    "meta-estimator": "glossary.html#term-meta-estimator",
}


def _link_sklearn_labels(app, env, node, contnode):
    path = _SKLEARN_LABELS.get(node.get("reftarget"))
    if path is None or node.get("refdomain") != "std":
        return None
    from docutils import nodes

    reference = nodes.reference("", "", internal=False, refuri=_SKLEARN_STABLE + path)
    reference.append(contnode)
    return reference


def _write_cli_help(app):
    """The command line page includes each subcommand's ``--help``, as run."""
    import subprocess
    import sys

    folder = os.path.join(app.srcdir, "generated", "cli")
    os.makedirs(folder, exist_ok=True)
    for name, args in {
        "main": [],
        "demo": ["demo"],
        "reproduce": ["reproduce"],
        "fit": ["fit"],
    }.items():
        text = subprocess.run(
            [sys.executable, "-m", "sklearn_attnpoly", *args, "--help"],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "COLUMNS": "88"},
        ).stdout
        with open(os.path.join(folder, f"{name}.txt"), "w") as file:
            file.write(text)


def setup(app):
    app.connect("builder-inited", _write_cli_help)
    app.connect("missing-reference", _link_sklearn_labels)


# -- the gallery -----------------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    # an example that fails fails the build
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "within_subsection_order": "FileNameSortKey",
    "reset_modules": ("matplotlib", "seaborn"),
    # "Examples using X" under each API page
    "backreferences_dir": "gen_modules/backreferences",
    "doc_module": ("sklearn_attnpoly",),
}

# an example's warnings are part of its output, not of the build's
warnings.filterwarnings("ignore", category=UserWarning, message="Matplotlib")

# -- HTML -----------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"sklearn-attnpoly {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_static_path = []
