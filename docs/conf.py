"""Sphinx configuration for sklearn-attnpoly.

Build the HTML docs from the repository root, warnings as errors::

    pip install -c constraints.txt -e ".[docs]"
    sphinx-build -W -b html docs docs/_build/html
"""

from sklearn_attnpoly import __version__

project = "sklearn-attnpoly"
author = "sklearn-attnpoly developers"
copyright = "sklearn-attnpoly developers"
release = __version__
version = ".".join(__version__.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
]

templates_path = ["_templates"]
exclude_patterns = ["_build"]

autosummary_generate = True
# autosummary already lists the members; numpydoc's own table would duplicate it.
numpydoc_show_class_members = False

intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable/", None),
    "sklearn": ("https://scikit-learn.org/stable/", None),
    "torch": ("https://docs.pytorch.org/docs/stable/", None),
    "skorch": ("https://skorch.readthedocs.io/en/stable/", None),
}

html_theme = "pydata_sphinx_theme"
html_title = f"sklearn-attnpoly {release}"
