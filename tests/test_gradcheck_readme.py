"""Every code block of the README's gradcheck section runs as written and prints what the README says.

The blocks run in order, in a temporary folder, as a reader would: a ``python`` block whose first
line is ``# name.py`` is that file; any other ``python`` block runs in one shared session, and a
``text`` block right after it is what it prints; a ``console`` block is a command (``$ ...``) and
its output, run as ``python -m gradcheck ...``. In the comparison, ``...`` stands for any lines,
runs of spaces and dashes count as one (column widths follow the longest name), and the numbers
of summary lines (``OK: ...``, ``FAILED: ...``) are not compared: times vary, and the catalog's
counts grow with it. Nor are the numbers of a result row: which element is the worst of a passing
check, and the digits of its rounding-level error, differ between CPUs and NumPy versions (the
README's rows came from one machine); a row's component, tensor and verdict are compared.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Verifying the math: `gradcheck`")
    return text[start : text.index("\n## ", start + 1)]


def blocks() -> list[tuple[str, str]]:
    return re.findall(r"```(\w+)\n(.*?)```", section(), re.DOTALL)


#: A number as a result row prints it: an index such as ``(2, 3)``, a value such as ``-4.095e-02``.
NUMBER = r"\(\d+(?:, \d+)*,?\)|-?\d+\.\d+(?:e[-+]\d+)?|\binf\b|\bnan\b"
#: The verdicts that end a result row.
VERDICTS = r"(pass|fail|inconclusive|kink|kinks|error)"


def normalized(line: str) -> str:
    line = re.sub(r"-{3,}", "---", " ".join(line.split()))
    if line.startswith(("OK:", "FAILED:")):
        line = re.sub(r"\d+(\.\d+)?", "N", line)
    elif re.search(rf"\s{VERDICTS}$", line):
        line = re.sub(rf"\(\.\.\.\)|(?<!\S)\.\.\.(?!\S)|{NUMBER}", "N", line)  # the README shows "..." for digits
    return line


def matches(expected: str, actual: str) -> bool:
    """True if ``actual`` is ``expected``, with "..." lines standing for any number of lines."""
    pattern = []
    for line in expected.strip("\n").splitlines():
        pattern.append(r"(?:.*\n)*?" if line.strip() == "..." else re.escape(normalized(line)) + r"\n")
    text = "".join(normalized(line) + "\n" for line in actual.strip("\n").splitlines())
    return re.fullmatch("".join(pattern), text) is not None


def test_a_row_is_compared_by_component_tensor_and_verdict_not_by_its_digits() -> None:
    readme_row = "Dense[identity]   x   (2, 3)   4.095e-02   4.095e-02  5.4e-10  1.3e-08  5.1e-07  pass"
    intel_row = "Dense[identity]   x   (2, 0)   2.526e-01   2.526e-01  5.0e-10  2.0e-09  5.1e-07  pass"
    assert matches(readme_row, intel_row)
    assert not matches(readme_row, intel_row.replace(" x ", " W "))
    assert not matches(readme_row, intel_row.replace("pass", "fail"))
    assert not matches(readme_row, intel_row.replace("Dense[identity]", "Dense[relu]"))


def test_a_passing_row_of_the_readme_shows_no_rounding_level_digits() -> None:
    rows = [line for _, text in blocks() for line in text.splitlines() if re.search(r"\spass$", line)]
    assert len(rows) >= 3
    assert [row for row in rows if re.search(r"\d\.\d|\(\d", row.split(maxsplit=2)[2])] == []
    assert matches(rows[0], rows[0].replace("(...)", "(2, 0)").replace(" ... ", " 2.526e-01 ", 1))


def test_the_section_has_python_console_and_output_blocks() -> None:
    kinds = [kind for kind, _ in blocks()]
    assert kinds.count("python") >= 4 and kinds.count("console") >= 2 and kinds.count("text") >= 3


def test_every_block_of_the_gradcheck_section_runs_and_prints_what_it_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    session: dict[str, object] = {"__name__": "readme"}
    printed: str | None = None
    for kind, body in blocks():
        first = body.splitlines()[0]
        if kind == "python" and re.fullmatch(r"# [\w/]+\.py", first):
            (tmp_path / first[2:]).write_text(body, encoding="utf-8")
        elif kind == "python":
            output = io.StringIO()
            with contextlib.redirect_stdout(output):
                exec(compile(body, "README.md", "exec"), session)
            printed = output.getvalue()
        elif kind == "text":
            assert printed is not None, "a text block must follow a python block"
            assert matches(body, printed), f"README says:\n{body}\nbut the block prints:\n{printed}"
            printed = None
        elif kind == "console":
            command, _, expected = body.partition("\n")
            assert command.startswith("$ gradcheck")
            completed = subprocess.run(
                [sys.executable, "-m", "gradcheck", *shlex.split(command)[2:]],
                capture_output=True,
                text=True,
                check=False,
            )
            assert "Traceback" not in completed.stderr
            assert matches(expected, completed.stdout), f"README says:\n{expected}\nbut it prints:\n{completed.stdout}"
    assert printed in (None, ""), "a python block that prints needs a text block saying what"
