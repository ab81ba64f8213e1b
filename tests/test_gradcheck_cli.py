"""The gradcheck command line: listing, filtering, JSON, sweeps, plots, user checks, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import refnet
from gradcheck import CATALOG
from gradcheck.cli import main
from gradcheck.suite.catalog import public_components

GOOD_LAYER = '''
import numpy as np
from refnet import Layer


class Square(Layer):
    """y = x² · w (elementwise), w of shape (D,)."""

    def __init__(self, width):
        super().__init__()
        self.params = {"w": np.linspace(0.5, 1.5, width)}
        self.grads = {"w": np.zeros(width)}

    @property
    def in_features(self):
        return self.params["w"].size

    def forward(self, x, training=True):
        self.x = np.asarray(x, dtype=float)
        return self.x**2 * self.params["w"]

    def backward(self, grad_y):
        self.grads["w"] = (grad_y * self.x**2).sum(axis=0)
        return grad_y * 2 * self.x * self.params["w"] * FACTOR


FACTOR = 1.0


def make():
    return Square(3)


def make_with_input():
    return Square(3), np.array([[1.0, -2.0, 0.5], [0.3, 0.7, -1.1]])


def make_number():
    return 42


def make_float32():
    from refnet import Dense

    return Dense(3, 2, dtype=np.float32, seed=0)
'''


def write_module(tmp_path: Path, name: str, factor: float = 1.0) -> Path:
    path = tmp_path / f"{name}.py"
    path.write_text(GOOD_LAYER.replace("FACTOR = 1.0", f"FACTOR = {factor}"))
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def usage_error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """The message of a usage error (exit status 2): argparse's own, or one line of ours, never a traceback."""
    try:
        code = main(list(args))
    except SystemExit as exit_info:  # argparse: unknown options, bad --seed
        code = exit_info.code  # type: ignore[assignment]
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert "Traceback" not in captured.err and captured.err.startswith(("usage:", "gradcheck: error:"))
    if captured.err.startswith("gradcheck: error:"):
        assert captured.err.count("\n") == 1
    return captured.err


def test_list_names_every_check_and_every_public_component(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--list")
    assert code == 0
    for check in CATALOG:
        assert check.name in out
    for cls in public_components():
        assert cls.__name__ in out
    assert "uncovered: none" in out


def test_k_filters_the_checks_that_run(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "-k", "LeakyReLU")
    assert code == 0
    rows = [line for line in out.splitlines() if line.startswith(("LeakyReLU", "Dense", "MSE"))]
    assert rows and all(row.startswith("LeakyReLU") for row in rows)
    assert "OK: 2 checks, " in out  # LeakyReLU and LeakyReLU reference


def test_k_matching_nothing_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert "matches no check" in usage_error(capsys, "-k", "no-such-check")


def test_whole_catalog_passes_with_a_table_and_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys)
    assert code == 0
    header = out.splitlines()[0].split()
    assert header[:3] == ["component", "tensor", "worst"] and header[-1] == "verdict"
    assert out.strip().splitlines()[-1].startswith("OK: ")


def test_json_to_stdout_parses_and_carries_every_field(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--json", "-", "-k", "Adam", "--seed", "5")
    assert code == 0
    document = json.loads(out)
    assert document["passed"] is True and document["seed"] == 5 and document["pattern"] == "Adam"
    fields = {"component", "tensor", "index", "analytic", "numerical", "abs_error", "rel_error", "tolerance", "verdict"}
    assert document["results"] and all(fields <= set(result) for result in document["results"])
    assert "component" in err  # the table went to stderr


def test_json_to_a_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    code, out, _ = run(capsys, "--json", str(path), "-k", "MSE")
    document = json.loads(path.read_text())
    assert code == 0 and "MSE" in out
    selected = {check.name for check in CATALOG if "mse" in check.name.lower()}
    assert selected and {result["component"] for result in document["results"]} == selected


def test_sweep_prints_the_error_table_and_slopes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--sweep", "-k", "Tanh")
    assert code == 0
    assert "h=1e-01" in out and "h=1e-08" in out and "slope" in out
    assert "2.0" in out


def test_plot_writes_a_png(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    path = tmp_path / "sweep.png"
    code, out, _ = run(capsys, "--plot", str(path), "-k", "Sigmoid")
    assert code == 0 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "slope" in out


def test_plot_without_matplotlib_is_a_clear_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    err = usage_error(capsys, "--plot", str(tmp_path / "x.png"), "-k", "Tanh")
    assert "matplotlib" in err and "pip install" in err


def test_check_passes_a_correct_custom_layer_from_a_py_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write_module(tmp_path, "good_layer")
    code, out, _ = run(capsys, "--check", f"{path}:make")
    assert code == 0
    assert {"x", "w"} <= {line.split()[1] for line in out.splitlines()[2:-1]}
    code, _, _ = run(capsys, "--check", f"{path}:make_with_input")
    assert code == 0


def test_check_fails_a_wrong_custom_layer_and_names_the_worst_element(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write_module(tmp_path, "bad_layer", factor=1.01)
    code, out, _ = run(capsys, "--check", f"{path}:make_with_input")
    assert code == 1
    rows = {line.split()[1]: line.split()[-1] for line in out.splitlines()[2:4]}  # the two table rows
    assert rows == {"x": "FAIL", "w": "pass"} and "FAILED: 1 check, 2 results: 1 pass, 1 fail in " in out
    # |grad_x| = |2·x·w·grad_y| is largest at one element; its index appears in the failure line
    failure = [line for line in out.splitlines() if "disagree" in line]
    assert failure and "worst at (" in failure[0]


def test_check_accepts_a_dotted_module_name(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_module(tmp_path, "dotted_user_layer")
    monkeypatch.syspath_prepend(str(tmp_path))
    code, _, _ = run(capsys, "--check", "dotted_user_layer:make")
    assert code == 0


def test_check_of_a_refnet_loss_by_module_name(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--check", "refnet.losses:MSE")
    assert code == 0 and "y_pred" in out


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_such_module_xyz:make", "cannot import module 'no_such_module_xyz'"),
        ("refnet.losses:no_such_factory", "has no factory 'no_such_factory'"),
        ("missing/file.py:make", "no such file"),
        ("just_a_module", "expects MODULE:FACTORY"),
        ("refnet:__version__", "not a function"),
    ],
)
def test_check_with_a_bad_target_is_a_usage_error(capsys: pytest.CaptureFixture[str], spec: str, message: str) -> None:
    assert message in usage_error(capsys, "--check", spec)


def test_check_of_an_unsupported_object_is_a_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write_module(tmp_path, "number_factory")
    assert "returned 42 (an int); expected a layer" in usage_error(capsys, "--check", f"{path}:make_number")


def test_check_of_a_float32_refnet_layer_rebuilds_it_in_float64(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write_module(tmp_path, "float32_factory")
    code, out, _ = run(capsys, "--check", f"{path}:make_float32")
    assert code == 0
    assert "Dense (float32, rebuilt in float64)" in out


def test_unknown_option_is_exit_status_two(capsys: pytest.CaptureFixture[str]) -> None:
    usage_error(capsys, "--no-such-option")


@pytest.mark.parametrize("seed", ["-1", "1.5", "many"])
def test_seed_must_be_a_non_negative_integer(capsys: pytest.CaptureFixture[str], seed: str) -> None:
    assert "expected an integer >= 0" in usage_error(capsys, "--seed", seed)


def test_python_dash_m_gradcheck_runs_the_same_command() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "gradcheck", "-k", "Softmax", "--json", "-"],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(refnet.__file__).parent.parent,
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["passed"] is True


def test_failing_check_gives_exit_status_one_through_the_module_entry_point(tmp_path: Path) -> None:
    path = write_module(tmp_path, "bad_for_subprocess", factor=-1.0)
    completed = subprocess.run(
        [sys.executable, "-m", "gradcheck", "--check", f"{path}:make"], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 1
    assert "FAILED" in completed.stdout
