"""The supported Pythons are written in four places; they must say the same."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest itself depends on tomli before Python 3.11
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _noxfile_pythons() -> list[str]:
    tree = ast.parse((ROOT / "noxfile.py").read_text(encoding="utf-8"))
    (value,) = [
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "PYTHONS" for t in node.targets)
    ]
    return list(ast.literal_eval(value))


def test_classifiers_nox_and_ci_name_the_same_pythons() -> None:
    project = PYPROJECT["project"]
    classified = [c.rsplit(" :: ", 1)[1] for c in project["classifiers"] if re.fullmatch(r".*Python :: 3\.\d+", c)]
    assert classified == _noxfile_pythons() == ["3.10", "3.11", "3.12", "3.13"]
    assert project["requires-python"] == f">={classified[0]}"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "for minor in 10 11 12 13" in ci
    assert PYPROJECT["tool"]["mypy"]["python_version"] == classified[0]
    assert PYPROJECT["tool"]["ruff"]["target-version"] == "py" + classified[0].replace(".", "")


def test_the_package_declares_its_license_typing_and_version_source() -> None:
    project = PYPROJECT["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")
    assert "version" in project["dynamic"] and "version" not in project
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "refnet.__version__"}
    assert "Typing :: Typed" in project["classifiers"]
    for package in ("refnet", "gradcheck"):
        assert (ROOT / package / "py.typed").is_file()
        assert PYPROJECT["tool"]["setuptools"]["package-data"][package] == ["py.typed"]
