"""onnx and onnxruntime are an optional extra: refnet imports and runs without them, and refnet.onnx says how to
install them when they are missing. These tests run everywhere, with the extra installed or not."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest itself depends on tomli before Python 3.11
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": ""},
        capture_output=True,
        text=True,
        check=False,
    )


def test_importing_refnet_and_refnet_onnx_imports_neither_onnx_nor_onnxruntime() -> None:
    result = run("import sys, refnet, refnet.onnx; print(sorted({'onnx', 'onnxruntime'} & set(sys.modules)))")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_without_onnx_export_and_load_say_how_to_install_it() -> None:
    code = (
        "import sys\n"
        "sys.modules['onnx'] = None  # as if onnx were not installed: importing it raises ImportError\n"
        "import refnet, refnet.onnx\n"
        "net = refnet.NeuralNetwork([refnet.Dense(2, 1, seed=0)])\n"
        "for call in (lambda: refnet.onnx.export(net, 'never.onnx'), lambda: refnet.onnx.load('never.onnx')):\n"
        "    try:\n"
        "        call()\n"
        "    except ImportError as exc:\n"
        "        print(exc)\n"
    )
    result = run(code)
    assert result.returncode == 0, result.stderr
    hint = "refnet.onnx needs the onnx package, which is not installed: pip install 'refnet[onnx]'"
    assert [line.split(" (or:")[0] for line in result.stdout.splitlines()] == [hint, hint]
    assert not (ROOT / "never.onnx").exists()


def test_onnx_is_an_optional_extra_and_nox_runs_its_tests_on_every_python() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert not any(requirement.startswith(("onnx", "onnxruntime")) for requirement in project["dependencies"])
    assert [requirement.split(">=")[0] for requirement in project["optional-dependencies"]["onnx"]] == [
        "onnx",
        "onnxruntime",
    ]
    tree = ast.parse((ROOT / "noxfile.py").read_text(encoding="utf-8"))
    (sessions,) = [
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "nox.options.sessions"
    ]
    assert "onnx" in sessions
    (function,) = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "onnx"]
    (decorator,) = function.decorator_list
    assert ast.unparse(decorator) == "nox.session(python=PYTHONS)"
    assert "'.[test,plot,onnx]'" in ast.unparse(function)


def test_the_docs_page_names_every_exported_layer_and_every_imported_operator() -> None:
    from refnet.onnx import EXPORTERS, IMPORTERS

    page = (ROOT / "docs" / "onnx.md").read_text(encoding="utf-8")
    missing = [cls.__name__ for cls in EXPORTERS if f"`{cls.__name__}" not in page]
    missing += [op for op in IMPORTERS if f"`{op}" not in page]
    assert missing == []
