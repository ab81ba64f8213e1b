"""tools/mutation.py: the mutants it makes, and how it judges them (in a copy, never in the work tree)."""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # tools/ is not a package: mypy reads tools/mutation.py as `mutation`
    from mutation import Mutant

ROOT = Path(__file__).resolve().parent.parent


def load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mutation_tool", ROOT / "tools" / "mutation.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


mutation = load_tool()


@pytest.fixture(scope="module")
def mutants() -> list[Mutant]:
    return mutation.all_mutants()


def test_every_target_file_gets_mutants_of_every_kind(mutants: list[Mutant]) -> None:
    assert {m.path for m in mutants} == set(mutation.TARGETS)
    assert len({m.function for m in mutants}) >= 0.9 * sum(len(names) for names in mutation.TARGETS.values())
    assert {m.kind for m in mutants} == {"operator", "comparison", "constant", "return", "sign", "swap", "removed"}


def test_mutant_ids_are_unique_and_each_mutant_changes_its_file(mutants: list[Mutant]) -> None:
    assert len({m.id for m in mutants}) == len(mutants)
    for m in mutants[:50]:
        source = (ROOT / m.path).read_bytes()
        assert m.apply(source) != source
        ast.parse(m.apply(source))


def test_validation_and_shapes_are_not_mutated(mutants: list[Mutant]) -> None:
    for m in mutants:
        assert "raise" not in m.before and "check_" not in m.before.split("=")[0]
        if m.kind == "removed":
            continue
        assert re.findall(r"axis=(-?\d+)", m.after) == re.findall(r"axis=(-?\d+)", m.before), m.id
        assert re.findall(r"reshape\([^)]*\)", m.after) == re.findall(r"reshape\([^)]*\)", m.before), m.id


def test_the_mutations_at_one_line() -> None:
    source = b"def f(x, y) -> float:\n    z = x * 2.0 - y\n    z += 1\n    if z.shape != y.shape:\n"
    source += b"        raise ValueError(z < 0)\n    return -z\n"
    found = mutation.mutants_of("f.py", source, ("f",))
    afters = {m.after for m in found}
    assert {"z = (x / 2.0) - y", "z = (x * 2.0 + y)", "z = x * 2.02 - y"} <= afters
    assert {"z -= 1", "z += 2", "pass"} <= afters
    assert {"return -z * 1.01", "return z"} <= afters
    assert not [m for m in found if m.line in (4, 5)]  # the guard and its raise are validation


def test_a_target_that_no_longer_exists_stops_the_tool() -> None:
    with pytest.raises(SystemExit, match="no function g"):
        mutation.mutants_of("f.py", b"def f(x):\n    return x + 1\n", ("f", "g"))


def test_equivalent_and_known_survivor_lists_name_existing_mutants(mutants: list[Mutant]) -> None:
    ids = {m.id for m in mutants}
    assert set(mutation.EQUIVALENT) <= ids, set(mutation.EQUIVALENT) - ids
    assert set(mutation.KNOWN_SURVIVORS) <= ids, set(mutation.KNOWN_SURVIVORS) - ids
    assert not set(mutation.EQUIVALENT) & set(mutation.KNOWN_SURVIVORS)
    assert all(reason.strip() for reason in [*mutation.EQUIVALENT.values(), *mutation.KNOWN_SURVIVORS.values()])


def test_a_mutant_is_judged_in_a_copy_and_the_work_tree_is_untouched(mutants: list[Mutant]) -> None:
    scaled = next(m for m in mutants if m.function == "Sigmoid.function" and m.kind == "return")
    before = (ROOT / scaled.path).read_bytes()
    directory = mutation.make_copy()
    try:
        mutation.check_copy_is_used(directory)
        outcome = mutation.judge(scaled, directory, timeout=120)
        assert outcome.status == "killed"
        assert (directory / scaled.path).read_bytes() == before  # the copy is put back too
    finally:
        import shutil

        shutil.rmtree(directory)
    assert (ROOT / scaled.path).read_bytes() == before


def test_the_score_leaves_equivalent_mutants_out() -> None:
    Outcome, Mutant = mutation.Outcome, mutation.Mutant
    make = lambda text: Mutant("refnet/x.py", "f", "constant", 1, "a", text, 0, 1, text)  # noqa: E731
    outcomes = [
        Outcome(make("b"), "killed", 0.1),
        Outcome(make("c"), "survived", 0.1),
        Outcome(make("d"), "crashed", 0.1),
    ]
    result = mutation.score(outcomes)
    assert (result.total, result.caught, result.counted) == (3, 2, 3)
    mutation.EQUIVALENT[make("c").id] = "the same value"
    try:
        result = mutation.score(outcomes)
        assert (result.caught, result.counted, result.percent) == (2, 2, 100.0)
    finally:
        del mutation.EQUIVALENT[make("c").id]
