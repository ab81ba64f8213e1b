"""The command line as a user meets it: no input gives a traceback, usage problems are found before any
check runs (exit 2, one line), and whatever the checked code does is that check's result (exit 1)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gradcheck.cli import build_parser, main
from gradcheck.core.guard import can_time_out
from gradcheck.suite.catalog import CATALOG

USER_MODULE = '''
import time
import numpy as np


class Cube:
    """y = x³, written without refnet."""

    def forward(self, x):
        self.x = x
        return x**3

    def backward(self, grad_y):
        return SIGN * 3 * self.x**2 * grad_y


SIGN = 1.0


class Bounded(Cube):
    """Refuses inputs outside (-2, 2) with its own assert: a large step of a sweep meets it."""

    def forward(self, x):
        assert np.all(np.abs(x) < 2.0), "x out of range"
        return super().forward(x)


class Raising(Cube):
    def forward(self, x):
        raise KeyError("no such unit")


class Sleeping(Cube):
    def forward(self, x):
        time.sleep(30)
        return x


def make():
    return Cube()


def make_bounded():
    return Bounded(), np.linspace(-1.9, 1.9, 12).reshape(3, 4)


def make_functions():
    return (np.tanh, lambda grad_y, x: grad_y * (1 - np.tanh(x) ** 2))


def make_raising():
    return Raising()


def make_sleeping():
    return Sleeping()


def make_empty():
    return ()


def make_none():
    return None


def make_number():
    return 42


def make_nan():
    return Cube(), np.array([[1.0, np.nan]])


def make_inf_target():
    from refnet import MSE
    return MSE(), (np.ones((2, 2)), np.array([[1.0, np.inf], [0.0, 0.0]]))


def make_wrong_count():
    return Cube(), np.ones((2, 2)), np.ones((2, 2))


def make_failing():
    raise RuntimeError("cannot build")


def make_class():
    return Cube


class Scaled(Cube):
    def __init__(self, w):
        self.params, self.grads = {"w": np.array(w)}, {}


def make_nan_params():
    return Scaled([1.0, np.nan])


class BrokenParams(Cube):
    @property
    def params(self):
        raise RuntimeError("weights not loaded")


def make_broken_params():
    return BrokenParams()


def make_hanging():
    while True:
        pass
'''


@pytest.fixture
def module(tmp_path: Path) -> Path:
    path = tmp_path / "user_layers.py"
    path.write_text(USER_MODULE)
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        code = main(list(args))
    except SystemExit as exit_info:  # argparse's own usage errors
        code = exit_info.code  # type: ignore[assignment]
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    return code, captured.out, captured.err


def one_line_usage_error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code, out, err = run(capsys, *args)
    assert code == 2 and out == "", (out, err)
    assert err.startswith("gradcheck: error: ") and err.count("\n") == 1, err
    return err


@pytest.mark.parametrize("option", ["--json", "--plot"])
def test_an_output_file_in_a_missing_folder_is_refused_before_any_check_runs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, option: str
) -> None:
    target = tmp_path / "no" / "such" / ("out.json" if option == "--json" else "out.png")
    err = one_line_usage_error(capsys, option, str(target), "-k", "Tanh")
    assert "does not exist" in err and str(target.parent) in err


def test_an_output_that_is_a_folder_or_an_unknown_image_format_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert "is a folder" in one_line_usage_error(capsys, "--json", str(tmp_path))
    pytest.importorskip("matplotlib")
    assert "cannot write .xyz" in one_line_usage_error(capsys, "--plot", str(tmp_path / "plot.xyz"))


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def make(:\n    pass\n", "SyntaxError"),
        ("import no_such_package_xyz\n", "ModuleNotFoundError: No module named 'no_such_package_xyz'"),
        ("raise RuntimeError('config missing')\n", "RuntimeError: config missing"),
        ("import sys\nsys.exit(3)\n", "SystemExit"),
    ],
)
def test_a_module_that_cannot_be_imported_is_a_one_line_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, source: str, message: str
) -> None:
    path = tmp_path / "broken.py"
    path.write_text(source)
    assert message in one_line_usage_error(capsys, "--check", f"{path}:make")


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        ("make_empty", "returned an empty tuple"),
        ("make_none", "returned None"),
        ("make_number", "returned 42 (an int); expected a layer"),
        ("make_nan", "x has a non-finite value (nan) at (0, 1)"),
        ("make_inf_target", "y_true has a non-finite value (inf) at (0, 1)"),
        ("make_wrong_count", "got 2 inputs"),
        ("make_failing", "make_failing() raised RuntimeError: cannot build"),
        ("make_class", "returned the class Cube; return an instance of it"),
        ("make_nan_params", "params['w'] has a non-finite value (nan) at (1,)"),
        ("make_broken_params", "looking at it raised RuntimeError: weights not loaded"),
    ],
)
def test_a_factory_that_returns_nothing_checkable_is_a_one_line_usage_error(
    capsys: pytest.CaptureFixture[str], module: Path, factory: str, message: str
) -> None:
    assert message in one_line_usage_error(capsys, "--check", f"{module}:{factory}")


@pytest.mark.skipif(not can_time_out(), reason="time limits need SIGALRM in the main thread")
def test_a_factory_that_hangs_is_stopped_by_the_timeout(capsys: pytest.CaptureFixture[str], module: Path) -> None:
    err = one_line_usage_error(capsys, "--check", f"{module}:make_hanging", "--timeout", "0.5")
    assert "timed out after 0.5 s while building" in err


@pytest.mark.skipif(not can_time_out(), reason="time limits need SIGALRM in the main thread")
def test_a_component_that_hangs_is_an_error_result_of_its_check(
    capsys: pytest.CaptureFixture[str], module: Path
) -> None:
    code, out, _ = run(capsys, "--check", f"{module}:make_sleeping", "--timeout", "0.5")
    assert code == 1 and "ERROR" in out and "Sleeping" in out and "timed out after 0.5 s" in out


def test_an_exception_of_the_checked_code_is_the_checks_error_naming_the_component(
    capsys: pytest.CaptureFixture[str], module: Path
) -> None:
    code, out, _ = run(capsys, "--check", f"{module}:make_raising")
    assert code == 1
    assert "Raising.forward at the check point raised KeyError: 'no such unit'" in out
    assert "FAILED: 1 check, 1 result: 0 pass, 0 fail, 1 error" in out


@pytest.mark.parametrize("sweep", [[], ["--sweep"]])
def test_an_assert_of_the_checked_code_at_a_large_step_does_not_stop_the_check(
    capsys: pytest.CaptureFixture[str], module: Path, sweep: list[str]
) -> None:
    code, out, _ = run(capsys, "--check", f"{module}:make_bounded", *sweep)
    assert code == 0, out


def test_a_component_written_without_refnet_and_a_pair_of_functions_are_checked(
    capsys: pytest.CaptureFixture[str], module: Path
) -> None:
    code, out, _ = run(capsys, "--check", f"{module}:make")
    assert code == 0 and out.splitlines()[2].startswith("Cube ")
    code, out, _ = run(capsys, "--check", f"{module}:make_functions")
    assert code == 0 and out.splitlines()[2].startswith("tanh ")
    module.write_text(USER_MODULE.replace("SIGN = 1.0", "SIGN = -1.0"))
    code, out, _ = run(capsys, "--check", f"{module}:make")
    assert code == 1 and "FAIL" in out


def test_the_console_script_imports_a_dotted_module_from_the_current_folder(module: Path) -> None:
    script = shutil.which("gradcheck", path=os.path.dirname(sys.executable))
    if script is None:
        pytest.skip("the gradcheck console script is not installed next to this Python")
    completed = subprocess.run(
        [script, "--check", "user_layers:make"], cwd=module.parent, capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stderr
    assert "OK: 1 check" in completed.stdout


def test_k_does_not_combine_with_check_nor_list_with_check(capsys: pytest.CaptureFixture[str], module: Path) -> None:
    assert "does not combine" in one_line_usage_error(capsys, "-k", "relu", "--check", f"{module}:make")
    assert "does not combine" in one_line_usage_error(capsys, "--list", "--check", f"{module}:make")


def test_list_and_run_count_the_same_checks(capsys: pytest.CaptureFixture[str]) -> None:
    _, listed, _ = run(capsys, "--list", "-k", "dense")
    _, ran, _ = run(capsys, "-k", "dense")
    count = sum("dense" in check.name.lower() for check in CATALOG)
    assert f"\n{count} checks; " in listed
    assert ran.splitlines()[-1].startswith(f"OK: {count} checks, ")


def test_the_summary_counts_kinks_set_aside_as_the_rows_show_them() -> None:
    import numpy as np

    from gradcheck import check_layer
    from refnet import ReLU

    report = check_layer(ReLU(), np.array([[0.0, 1.0, -2.0, 0.5], [1.5, -0.3, 0.7, -1.1]]))
    assert "pass (1 on kink)" in report.table()
    assert "1 element on kinks set aside" in report.summary()


def test_help_documents_k_matching_timeout_and_exit_statuses() -> None:
    text = " ".join(build_parser().format_help().split())
    assert "ignoring case" in text and "--timeout" in text and "2 usage error" in text


def test_the_table_labels_the_tolerance_as_an_absolute_error(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "-k", "Tanh")
    header = out.splitlines()[0]
    assert "abs err" in header and "abs tol" in header and " tol " not in header.replace("abs tol", "")


def test_the_plot_has_a_labelled_panel_per_component(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from gradcheck import run_catalog
    from gradcheck.plot import plot_sweeps

    report = run_catalog(pattern="Dense[t", sweep=True)
    figure = plot_sweeps(report.results, tmp_path / "sweep.png")
    components = {result.component for result in report.results if result.sweep_errors}  # not the references
    assert len(figure.axes) == len(components) >= 2
    for axis in figure.axes:
        assert axis.get_title() and axis.get_legend() is not None and axis.get_xlabel() == "step h"


@pytest.mark.parametrize(
    "argv",
    [
        ["--seed"],
        ["--seed", "x"],
        ["--timeout", "-1"],
        ["--timeout", "nan"],
        ["-k"],
        ["-k", ""],
        ["--check"],
        ["--check", ":"],
        ["--check", "::"],
        ["--check", "a.b.c:"],
        ["--check", "/:make"],
        ["--check", "refnet:Dense"],
        ["--check", "refnet.losses:Loss"],
        ["--json", ""],
        ["--plot", ""],
        ["--unknown"],
    ],
)
def test_no_argument_gives_a_traceback(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, _, err = run(capsys, *argv)  # an uncaught exception would fail the test here
    assert code in (0, 1, 2) and "Traceback" not in err
