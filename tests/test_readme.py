"""The README and the docs/ pages run as written: every ```python block, each in a fresh interpreter with -W error.

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
#: README.md and the pages under docs/ it links to: every ```python block of each runs.
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```python\n(.*?)^```$", flags=re.MULTILINE | re.DOTALL)


def python_blocks(text: str) -> list[tuple[int, str]]:
    """(line, code) of every ```python block of a markdown text."""
    return [(text.count("\n", 0, match.start()) + 1, match.group(1)) for match in FENCE.finditer(text)]


TEXTS = {path.relative_to(ROOT).as_posix(): path.read_text(encoding="utf-8") for path in DOCUMENTS}
#: (document, line, code) for every block.
BLOCKS = [(name, line, code) for name, text in TEXTS.items() for line, code in python_blocks(text)]
README_BLOCKS = [(line, code) for name, line, code in BLOCKS if name == "README.md"]


def files_of(document: str) -> dict[str, str]:
    """The blocks of ``document`` that are files (first line ``# name.py``): code -> file name."""
    firsts = {code: code.split("\n", 1)[0] for name, _, code in BLOCKS if name == document}
    return {code: first[2:] for code, first in firsts.items() if re.fullmatch(r"# [\w/]+\.py", first)}


def test_the_readme_has_python_blocks_to_run() -> None:
    assert len(README_BLOCKS) >= 3, f"found {len(README_BLOCKS)} ```python blocks in README.md"


def test_the_block_finder_sees_a_block_in_a_docs_page() -> None:
    assert python_blocks("text\n```python\nprint(1)\n```\n") == [(2, "print(1)\n")]
    assert "docs/mutation.md" in TEXTS and "docs/benchmarks.md" in TEXTS


#: Optional extras a block may import: where one is not installed the block is skipped (``nox -s onnx`` runs it).
OPTIONAL = ("onnx", "onnxruntime")


@pytest.mark.parametrize(("document", "line", "code"), BLOCKS, ids=[f"{name}:{line}" for name, line, _ in BLOCKS])
def test_readme_block_runs_as_written(document: str, line: int, code: str, tmp_path: Path) -> None:
    for module in OPTIONAL:
        if re.search(rf"^(import|from) {module}\b", code, flags=re.MULTILINE):
            pytest.importorskip(module)
    files = files_of(document)
    for other in files:
        (tmp_path / files[other]).write_text(other, encoding="utf-8")
    # This checkout's refnet, whatever is installed; the folder's files; MPLBACKEND: no window for a plot.
    path = os.pathsep.join([str(ROOT), str(tmp_path), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": path}
    command = [files[code]] if code in files else ["-c", code]
    result = subprocess.run(
        [sys.executable, "-W", "error", *command], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"the block at {document}:{line} failed:\n{result.stderr}"
    # A warning raised in a destructor (an unclosed file, say) is printed, not raised: it must not happen either.
    assert "Warning" not in result.stderr, f"the block at {document}:{line} warned:\n{result.stderr}"
