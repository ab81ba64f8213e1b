"""The examples' output folder: REFNET_OUT is created when missing, and every example gets it one way."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SCRIPTS = sorted(path for path in EXAMPLES.glob("*.py") if path.name != "outputs.py")
WRITERS = [path for path in SCRIPTS if "output_folder" in path.read_text(encoding="utf-8")]


def test_the_examples_that_write_files_are_found() -> None:
    names = {path.name for path in WRITERS}
    assert {"digits_classification.py", "regression.py", "residual_digits.py"} <= names


@pytest.mark.parametrize("script", WRITERS, ids=[path.name for path in WRITERS])
def test_an_example_makes_a_missing_output_folder_and_writes_into_it(script: Path, tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    out = tmp_path / "not" / "there" / "yet"
    env = {**os.environ, "REFNET_OUT": str(out), "MPLBACKEND": "Agg"}
    env["REFNET_EXAMPLE_QUICK"] = "1"  # a long-training example (char_lm.py) runs its shortest budget here
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    result = subprocess.run([sys.executable, "-W", "error", str(script)], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert out.is_dir() and any(out.iterdir())
    assert "None" not in result.stdout.splitlines(), "an example printed what a printing method returned"


def test_residual_digits_writes_its_graph_into_a_refnet_out_folder_that_does_not_exist_yet(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    out = tmp_path / "not" / "yet"
    env = {**os.environ, "REFNET_OUT": str(out), "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)}
    script = EXAMPLES / "residual_digits.py"
    result = subprocess.run([sys.executable, "-W", "error", str(script)], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (out / "residual_digits.dot").is_file()


@pytest.mark.parametrize("script", SCRIPTS, ids=[path.name for path in SCRIPTS])
def test_every_example_that_writes_files_gets_its_folder_from_outputs(script: Path) -> None:
    source = script.read_text(encoding="utf-8")
    if "REFNET_OUT" in source or "out /" in source:
        assert "from outputs import output_folder" in source
        assert 'os.environ.get("REFNET_OUT")' not in source, "use examples/outputs.py's output_folder"
