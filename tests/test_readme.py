"""The README runs as written: every ```python block, each in a fresh interpreter with -W error.

A block that needs data loads it itself (the digits from scikit-learn), so what a reader
copies is what is tested. A block whose first line is ``# name.py`` is that file: every such
file is written into the temporary folder the blocks run in (as a reader would save it), and
runs there as a script too. Files a block writes go to that folder.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
FENCE = re.compile(r"^```python\n(.*?)^```$", flags=re.MULTILINE | re.DOTALL)
BLOCKS = [(README.count("\n", 0, match.start()) + 1, match.group(1)) for match in FENCE.finditer(README)]
#: The blocks that are files (first line ``# name.py``): code -> file name.
FILES = {
    code: code.split("\n", 1)[0][2:] for _, code in BLOCKS if re.fullmatch(r"# [\w/]+\.py", code.split("\n", 1)[0])
}


def test_the_readme_has_python_blocks_to_run() -> None:
    assert len(BLOCKS) >= 3, f"found {len(BLOCKS)} ```python blocks in README.md"


@pytest.mark.parametrize(("line", "code"), BLOCKS, ids=[f"README.md:{line}" for line, _ in BLOCKS])
def test_readme_block_runs_as_written(line: int, code: str, tmp_path: Path) -> None:
    for other in FILES:
        (tmp_path / FILES[other]).write_text(other, encoding="utf-8")
    # This checkout's refnet, whatever is installed; the folder's files; MPLBACKEND: no window for a plot.
    path = os.pathsep.join([str(ROOT), str(tmp_path), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": path}
    command = [FILES[code]] if code in FILES else ["-c", code]
    result = subprocess.run(
        [sys.executable, "-W", "error", *command], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"the block at README.md:{line} failed:\n{result.stderr}"
    # A warning raised in a destructor (an unclosed file, say) is printed, not raised: it must not happen either.
    assert "Warning" not in result.stderr, f"the block at README.md:{line} warned:\n{result.stderr}"
