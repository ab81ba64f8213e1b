"""The example scripts write their outputs where REFNET_OUT says, making that folder when it does not exist yet."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WRITERS = sorted(path.name for path in (ROOT / "examples").glob("*.py") if "REFNET_OUT" in path.read_text())


def test_the_examples_that_write_files_are_found() -> None:
    assert {"digits_classification.py", "regression.py", "residual_digits.py"} <= set(WRITERS)


@pytest.mark.parametrize("script", WRITERS)
def test_an_example_makes_a_missing_output_folder_and_writes_into_it(script: str, tmp_path: Path) -> None:
    out = tmp_path / "not" / "there" / "yet"
    env = {**os.environ, "REFNET_OUT": str(out), "MPLBACKEND": "Agg"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    completed = subprocess.run(
        [sys.executable, str(ROOT / "examples" / script)], capture_output=True, text=True, env=env, check=False
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert out.is_dir() and any(out.iterdir())
