"""Bundle MathJax with the site, so its math renders with the network off.

MathJax 3's ``es5`` folder (the combined ``tex-chtml.js`` and the fonts and extensions it loads
on demand) is taken from the npm package at build time, with ``npm pack``, unpacked under
docs/_build/_vendor/ (kept between builds) and copied into the site's ``_static/mathjax``.
``REFNET_MATHJAX=/path/to/es5`` uses a folder you already have instead (no npm needed).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ExtensionError

#: The npm package and version: 3.x ships its fonts inside the package (4.x fetches them from a CDN).
MATHJAX = "mathjax@3.2.2"


def unpack_mathjax(vendor: Path) -> Path:
    """``vendor/mathjax`` holding MathJax's es5 folder, fetched with ``npm pack`` unless it is already there."""
    target = vendor / "mathjax"
    if (target / "tex-chtml.js").is_file():
        return target
    given = os.environ.get("REFNET_MATHJAX")
    if given:
        if not (Path(given) / "tex-chtml.js").is_file():
            raise ExtensionError(f"REFNET_MATHJAX={given} holds no tex-chtml.js (MathJax 3's es5 folder)")
        shutil.copytree(given, target)
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise ExtensionError("building the docs needs npm to fetch MathJax (or REFNET_MATHJAX=<MathJax 3 es5 folder>)")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([npm, "pack", MATHJAX, "--silent", "--pack-destination", tmp], check=True, capture_output=True)
        (tarball,) = Path(tmp).glob("*.tgz")
        with tarfile.open(tarball) as archive:
            members = [member for member in archive.getmembers() if member.name.startswith("package/es5/")]
            for member in members:
                member.name = member.name.removeprefix("package/es5/")
            archive.extractall(Path(tmp) / "es5", members=members, filter="data")
        shutil.copytree(Path(tmp) / "es5", target)
    return target


def add_mathjax(app: Sphinx, config: Config) -> None:
    vendor = Path(app.outdir).parent / "_vendor"
    unpack_mathjax(vendor)
    config.html_static_path.append(str(vendor))


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("config-inited", add_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
