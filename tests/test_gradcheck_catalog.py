"""The catalog covers every public refnet component, passes for any seed, and runs fast."""

from __future__ import annotations

import sys
from pathlib import Path
from types import FrameType

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import refnet
from gradcheck import CATALOG, Check, public_components, run_catalog, uncovered
from gradcheck.suite.catalog import exercised, select, unexercised


@pytest.fixture(scope="module")
def runs() -> dict[str, set[type]]:
    """Each check's name -> the refnet classes whose methods ran while it ran (watched, not declared)."""
    return {check.name: exercised(check) for check in CATALOG}


def test_introspection_finds_the_known_components() -> None:
    names = {cls.__name__ for cls in public_components()}
    expected = {"Dense", "Dropout", "BatchNorm", "Neuron", "MSE", "CrossEntropy", "BinaryCrossEntropy"}
    expected |= {"Identity", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax", "SGD", "Adam", "ElasticNet"}
    assert expected <= names
    assert not names & {"Layer", "Activation", "Loss", "Optimizer"}


def test_every_public_component_has_a_check() -> None:
    covered = {cls for check in CATALOG for cls in check.covers}
    missing = [cls.__name__ for cls in public_components() if cls not in covered]
    assert missing == [], f"no gradcheck check covers {missing}: add one to gradcheck/suite/catalog.py"
    assert uncovered() == []


def test_every_public_component_is_run_by_a_check(runs: dict[str, set[type]]) -> None:
    ran = {cls for classes in runs.values() for cls in classes}
    missing = [cls.__name__ for cls in public_components() if cls not in ran]
    assert missing == [], f"no gradcheck check runs a method of {missing}: add one to gradcheck/suite/catalog.py"


def test_every_check_runs_the_components_it_says_it_covers(runs: dict[str, set[type]]) -> None:
    claims = {check.name: sorted(cls.__name__ for cls in set(check.covers) - runs[check.name]) for check in CATALOG}
    assert {name: missing for name, missing in claims.items() if missing} == {}


def test_a_component_no_check_runs_is_reported(runs: dict[str, set[type]]) -> None:
    without_dropout = [check for check in CATALOG if refnet.Dropout not in runs[check.name]]
    assert unexercised(without_dropout) == [refnet.Dropout]


def test_a_check_runs_the_classes_it_builds_not_only_declares() -> None:
    dense = next(check for check in CATALOG if check.name == "Dense[relu]")
    assert {refnet.Dense, refnet.ReLU} <= exercised(dense)
    assert refnet.Dropout not in exercised(dense) and refnet.Adam not in exercised(dense)


def test_a_component_added_without_a_check_is_reported() -> None:
    without_dropout = [check for check in CATALOG if refnet.Dropout not in check.covers]
    assert uncovered(without_dropout) == [refnet.Dropout]


def test_every_activation_is_checked_inside_dense_and_on_its_own() -> None:
    names = {check.name for check in CATALOG}
    for activation in ("identity", "relu", "leaky_relu", "sigmoid", "tanh", "softmax"):
        assert f"Dense[{activation}]" in names
    assert {"Identity", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax"} <= names


def test_every_loss_target_form_and_mode_is_checked() -> None:
    names = {check.name for check in CATALOG}
    assert {"MSE", "CrossEntropy[labels]", "CrossEntropy[one-hot]", "CrossEntropy[probabilities]"} <= names
    assert {"BinaryCrossEntropy[probabilities]", "BinaryCrossEntropy[from_logits]"} <= names
    assert {"BatchNorm[train]", "BatchNorm[eval]", "Dropout[fixed mask]"} <= names
    assert {"ElasticNet[L1]", "ElasticNet[L2]"} <= names


def test_check_names_are_unique() -> None:
    names = [check.name for check in CATALOG]
    assert len(names) == len(set(names))


def gradient_tensors(pattern: str) -> set[str]:
    """The tensors of the gradient checks the pattern selects (not of their `... reference` twins)."""
    return {result.tensor for result in run_catalog(pattern=pattern).results if result.method != "reference"}


def test_every_layer_check_covers_the_input_and_every_parameter() -> None:
    assert gradient_tensors("Dense[tanh, L1+L2]") == {"x", "W", "b"}
    assert gradient_tensors("BatchNorm[train]") == {"x", "gamma", "beta"}
    assert gradient_tensors("Network[relu") == {
        "X", "layers[0].W", "layers[0].b", "layers[1].gamma", "layers[1].beta", "layers[3].W", "layers[3].b"
    }  # fmt: skip


def test_large_tensors_are_checked_by_projections() -> None:
    report = run_catalog(pattern="projections")
    methods = {result.method for result in report.results}
    assert methods == {"elementwise", "projection"}


def test_pattern_selects_by_case_insensitive_substring() -> None:
    assert [check.name for check in select("SOFTMAX")] == [
        "Dense[softmax]", "Softmax", "Network[softmax output, BCE probabilities, L2]", "Dense[softmax] reference",
        "Softmax reference",
    ]  # fmt: skip
    assert select("no such check") == []
    assert all(isinstance(check, Check) for check in select(None))


def test_filtering_does_not_change_what_a_check_sees() -> None:
    alone = [result for result in run_catalog(seed=7, pattern="Dense[sigmoid]").results if result.method != "reference"]
    within = [result for result in run_catalog(seed=7).results if result.component == "Dense[sigmoid]"]
    assert alone == within


def test_same_seed_same_results_and_another_seed_other_points() -> None:
    first, again, other = run_catalog(seed=3), run_catalog(seed=3), run_catalog(seed=4)
    assert [r.analytic for r in first.results] == [r.analytic for r in again.results]
    assert [r.analytic for r in first.results] != [r.analytic for r in other.results]


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_correct_components_never_fail_for_any_seed(seed: int) -> None:
    report = run_catalog(seed=seed)
    assert report.passed, "\n".join(f"{r.component} {r.tensor}: {r.message}" for r in report.failures)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_correct_components_never_fail_the_sweep_for_any_seed(seed: int) -> None:
    report = run_catalog(seed=seed, sweep=True)
    assert report.passed, "\n".join(f"{r.component} {r.tensor}: {r.message}" for r in report.failures)


def test_sweep_reports_slope_two_for_smooth_components() -> None:
    report = run_catalog(pattern="Tanh", sweep=True)
    slopes = [result.slope for result in report.results if result.slope is not None]
    assert slopes and all(1.8 < slope < 2.2 for slope in slopes)


def test_whole_catalog_stays_a_few_thousand_forward_passes() -> None:
    # What keeps `gradcheck` about a second on any machine is the work it does, not a clock: small
    # check points (a couple of thousand elements differenced) and ~2 forwards each plus the retries.
    # Counted (not timed) so a shared, loaded machine cannot fail it; 6,350 refnet forwards at 8a58ef6,
    # 26,812 once the CNN, toolkit and attention components joined, and 6,430 elements differenced with
    # the recurrent layers: the budgets doubled with the components.
    package, forwards = Path(refnet.__file__).parent, 0

    def count(frame: FrameType, event: str, arg: object) -> None:
        nonlocal forwards
        if event == "call" and frame.f_code.co_name == "forward" and package in Path(frame.f_code.co_filename).parents:
            forwards += 1

    sys.setprofile(count)
    try:
        report = run_catalog()
    finally:
        sys.setprofile(None)
    differenced = sum(result.checked for result in report.results if result.method in ("elementwise", "projection"))
    assert 0 < forwards < 40_000, f"the catalog ran {forwards} forward passes of refnet components"
    assert 0 < differenced < 10_000, f"the catalog differenced {differenced} elements"
    assert len(report.results) > 80


def test_results_are_float64_values_and_verdicts_are_known() -> None:
    for result in run_catalog().results:
        assert isinstance(result.analytic, float) and isinstance(result.numerical, float)
        assert result.verdict in {"pass", "fail", "kink"}
        assert np.isfinite(result.abs_error) and result.tolerance > 0
