"""Sphinx configuration of refnet's documentation site (``nox -s docs`` builds it into docs/_build/html).

The site is built from the repository alone and works with the network off: MathJax is copied
from its npm package at build time (``_ext/vendor.py``), Sphinx's search index is a local file,
furo loads no web fonts. What the pages show from the code is read from the code while they are
built (``_ext/refnet_docs.py``): the forward and backward source, the gradcheck rows (by running
the checker), the figures; tutorials are executed by MyST-NB.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(DOCS.parent))  # this checkout's refnet and gradcheck, whatever is installed
# ... and the tutorials' kernels too, which inherit the environment
os.environ["PYTHONPATH"] = os.pathsep.join([str(DOCS.parent), *filter(None, [os.environ.get("PYTHONPATH")])])
# ... and draw their figures inline, as Jupyter does: MPLBACKEND=Agg (nox sets it, for the build's own
# figures, which _ext/refnet_docs.py draws with Agg anyway) would leave a tutorial's plt.show() without output
os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"

import refnet  # noqa: E402

project = "refnet"
author = "the refnet maintainers"
copyright = "the refnet maintainers, MIT license"
release = version = refnet.__version__

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx_design",
    "vendor",
    "refnet_docs",
]

exclude_patterns = [
    "_build",
    "_generated/notebooks",
    "Thumbs.db",
    ".DS_Store",
    "**.ipynb_checkpoints",
    "**/README.md",
]
# benchmarks.md and mutation.md start their sections at ####; refnet.layer re-exports Layer (two targets of one name)
suppress_warnings = ["myst.header", "ref.python"]

# MyST: $...$ and $$...$$ math, ::: fences for directives, {dropdown} for hidden solutions.
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist", "attrs_inline"]
myst_heading_anchors = 3

# Tutorials are executed at every build, and a cell that raises fails the build.
nb_execution_mode = "force"
nb_execution_raise_on_error = True
nb_execution_timeout = 300
nb_execution_show_tb = True
nb_merge_streams = True

# Math: MathJax 3 from its npm package, copied into _static/mathjax (vendor.py); no CDN.
mathjax_path = "mathjax/tex-chtml.js"

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True, "show-inheritance": True}

html_theme = "furo"
html_title = f"refnet {release}"
html_static_path = ["_static"]
html_css_files = ["refnet.css"]
html_show_sourcelink = True
html_theme_options = {"navigation_with_keys": True}
highlight_language = "text"  # a docstring shown as written is text; code blocks name their language
