"""The exercises of the documentation site: each ``gradcheck --check`` fails before the repair and passes after.

Every exercise in docs/exercises/ has a solution of the same name in docs/exercises/solutions/
that differs from it by its repair only (a few lines); its page shows the command and the
solutions page shows the repair.
"""

from __future__ import annotations

import difflib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXERCISES = ROOT / "docs" / "exercises"
NAMES = sorted(path.stem for path in EXERCISES.glob("ex*.py"))


def check(path: Path) -> subprocess.CompletedProcess[str]:
    """``gradcheck --check PATH:make`` from the repository's root, as the exercise page says to run it."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-W", "error", "-m", "gradcheck", "--check", f"{path.relative_to(ROOT)}:make"]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)


def test_there_are_exercises_of_each_kind() -> None:
    assert NAMES == ["ex1_transpose", "ex2_accumulate", "ex3_adam", "ex4_cross_entropy"]


@pytest.mark.parametrize("name", NAMES)
def test_the_broken_component_fails_its_check(name: str) -> None:
    result = check(EXERCISES / f"{name}.py")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL" in result.stdout and "FAILED:" in result.stdout


@pytest.mark.parametrize("name", NAMES)
def test_the_repaired_component_passes_its_check(name: str) -> None:
    result = check(EXERCISES / "solutions" / f"{name}.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1].startswith("OK:")


@pytest.mark.parametrize("name", NAMES)
def test_the_solution_is_the_exercise_with_its_repair_only(name: str) -> None:
    broken = (EXERCISES / f"{name}.py").read_text(encoding="utf-8").splitlines()
    solution = (EXERCISES / "solutions" / f"{name}.py").read_text(encoding="utf-8").splitlines()
    changed = [line for line in difflib.ndiff(broken, solution) if line[:1] in "+-"]
    assert 0 < len(changed) <= 4, changed


@pytest.mark.parametrize("name", NAMES)
def test_the_pages_give_the_command_and_fold_the_repair(name: str) -> None:
    index = (EXERCISES / "index.md").read_text(encoding="utf-8")
    solutions = (EXERCISES / "solutions.md").read_text(encoding="utf-8")
    assert f"$ gradcheck --check docs/exercises/{name}.py:make" in index
    assert f"```{{literalinclude}} {name}.py" in index
    assert f"```{{exercise-diff}} exercises/{name}.py exercises/solutions/{name}.py" in solutions
    # every repair sits inside a dropdown, folded until the reader opens it
    block = solutions.split(f"exercises/{name}.py exercises/solutions/{name}.py")[0].rsplit(":::{dropdown}", 1)[1]
    assert ":::\n" not in block
