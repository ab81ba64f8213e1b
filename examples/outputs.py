"""Where the examples write their files: the folder REFNET_OUT names, or a new temporary one.

Every example gets its folder here, so each one creates it the same way (a REFNET_OUT that
does not exist yet is made, parents included). Not an example itself: ``nox -s examples`` skips it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def output_folder(prefix: str) -> Path:
    """The folder named by the environment variable REFNET_OUT, created if missing, else a new temporary folder."""
    named = os.environ.get("REFNET_OUT")
    folder = Path(named) if named else Path(tempfile.mkdtemp(prefix=prefix))
    folder.mkdir(parents=True, exist_ok=True)
    return folder
