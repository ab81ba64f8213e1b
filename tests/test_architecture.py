"""The shape of the house: dependencies run one way, and nobody reaches into another's underscore names.

refnet's modules sit in layers (ground ← interface ← components ← training ← models ← io),
and each imports only from its own layer or below; gradcheck sits above all of refnet. A subpackage's
modules take their folder's layer (refnet/support: ground, refnet/io: io, gradcheck/: above refnet), so a new
module there is placed by where it sits; the flat learner modules are placed by name.
Within a layer the imports must not form a cycle either. The one allowed upward import is
the documented facade: ``NeuralNetwork.save``/``load`` import ``refnet.io.serialization``
lazily. Imports under ``if TYPE_CHECKING:`` are annotations only and do not count.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

GROUND, INTERFACE, COMPONENTS, TRAINING, MODELS, IO, PACKAGE, GRADCHECK_LAYER = range(8)
#: The layout gives a subpackage's modules their layer by folder: a new module there is placed by where it sits.
FOLDERS: dict[str, int] = {
    "refnet.support": GROUND,
    "refnet.io": IO,
    "refnet.onnx": IO,  # ONNX export and import sit beside the model file (issue 23)
    "gradcheck": GRADCHECK_LAYER,
}
#: The flat learner modules, placed by name.
LAYERS: dict[str, int] = {
    # ground: errors, initializers (with refnet/support: argument checks, numerics, packing)
    **dict.fromkeys(["refnet.errors", "refnet.initializers"], GROUND),
    # interface: the Layer interface and the graph wiring
    **dict.fromkeys(["refnet.wiring", "refnet.base"], INTERFACE),
    # components
    **dict.fromkeys(
        [
            "refnet.functions",
            "refnet.layer",
            "refnet.dropout",
            "refnet.batchnorm",
            "refnet.merge",
            "refnet.neuron",
            "refnet.regularizers",
            "refnet.losses",
            "refnet.optimizers",
            # sequence components (issue 20)
            "refnet.embedding",
        ],
        COMPONENTS,
    ),
    # training: loop, callbacks, progress, plotting
    **dict.fromkeys(["refnet.training", "refnet.callbacks", "refnet.progress", "refnet.plotting"], TRAINING),
    # issue 22: diagnostics takes the network as an argument, never imports it; diagnosis is its report
    **dict.fromkeys(["refnet.diagnostics", "refnet.diagnosis"], TRAINING),
    # models
    **dict.fromkeys(["refnet.network", "refnet.graph"], MODELS),
    # (io: refnet/io, the model file's archive and its contents, by folder)
    "refnet": PACKAGE,
}
FACADE = {("refnet.network", "refnet.io.serialization")}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sources() -> dict[str, ast.Module]:
    files = sorted([*(ROOT / "refnet").rglob("*.py"), *(ROOT / "gradcheck").rglob("*.py")])
    return {module_name(path): ast.parse(path.read_text(), str(path)) for path in files}


def is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_imports(tree: ast.Module, known: set[str], package: str) -> set[str]:
    """The project modules ``tree`` imports at run time (module-level or lazily in a function)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and is_type_checking(node):
            for statement in node.orelse:
                visit(statement)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], base]).strip(".")
            for alias in node.names:  # `from gradcheck import cases` imports the module gradcheck.cases
                if f"{base}.{alias.name}" in known:
                    found.add(f"{base}.{alias.name}")
                elif base in known:
                    found.add(base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph() -> dict[str, set[str]]:
    trees = sources()
    known = set(trees)
    return {name: runtime_imports(tree, known, name) - {name} for name, tree in trees.items()}


def folder_of(module: str) -> str | None:
    """The folder of FOLDERS that holds ``module`` (the package itself included), or None for a flat module."""
    return next((folder for folder in FOLDERS if module == folder or module.startswith(folder + ".")), None)


def layer_of(module: str) -> int:
    folder = folder_of(module)
    return FOLDERS[folder] if folder is not None else LAYERS[module]


def test_every_refnet_module_has_a_layer() -> None:
    refnet_modules = {name for name in import_graph() if name.split(".")[0] == "refnet"}
    flat = {name for name in refnet_modules if folder_of(name) is None}
    assert flat == set(LAYERS), "place a new flat module in LAYERS (and README's layout section)"
    subpackages = {name.rsplit(".", 1)[0] for name in refnet_modules if name.count(".") >= 2}
    assert subpackages <= set(FOLDERS), "give a new subpackage its layer in FOLDERS (and README's layout section)"


def test_a_new_module_in_a_subpackage_is_placed_by_its_folder() -> None:
    assert layer_of("refnet.io.onnx") == layer_of("refnet.io.serialization") == IO
    assert layer_of("refnet.support.new_numerics") == layer_of("refnet.support.checks") == GROUND
    assert layer_of("gradcheck.core.difference") == GRADCHECK_LAYER > PACKAGE
    assert folder_of("refnet.iox") is None and folder_of("refnet.network") is None


def test_modules_import_only_their_own_layer_or_below() -> None:
    upward = [
        f"{module} (layer {layer_of(module)}) imports {target} (layer {layer_of(target)})"
        for module, targets in import_graph().items()
        for target in sorted(targets)
        if layer_of(target) > layer_of(module) and (module, target) not in FACADE
    ]
    assert upward == []


def test_the_gradcheck_core_imports_nothing_but_itself() -> None:
    """The numerical core differentiates any function: it imports neither refnet nor refnet's own suite."""
    graph = import_graph()
    core = {name for name in graph if name.startswith("gradcheck.core")}
    assert core, "gradcheck/core/ holds the numerical core"
    outside = {module: sorted(graph[module] - core) for module in core if graph[module] - core}
    assert outside == {}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of modules, or None (depth-first search)."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return [*path[path.index(target) :], target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        state[node] = "done"
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_there_is_no_import_cycle_besides_the_save_load_facade() -> None:
    graph = {module: targets - {t for m, t in FACADE if m == module} for module, targets in import_graph().items()}
    assert find_cycle(graph) is None


def test_the_cycle_finder_finds_a_cycle() -> None:
    # The check above can fail: the finder sees the facade's cycle when the facade is kept.
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    cycle = find_cycle(import_graph())
    assert cycle is not None and {"refnet.network", "refnet.io.serialization"} <= set(cycle)


def foreign_underscore_uses(tree: ast.Module) -> list[str]:
    """``obj._name`` with obj other than self/cls/super(), and ``from module import _name``."""
    uses = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            owner = node.value
            own = (isinstance(owner, ast.Name) and owner.id in ("self", "cls")) or (
                isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) and owner.func.id == "super"
            )
            if not own:
                uses.append(f"line {node.lineno}: .{node.attr}")
        elif isinstance(node, ast.ImportFrom):
            uses += [
                f"line {node.lineno}: import {alias.name}"
                for alias in node.names
                if alias.name.startswith("_") and not alias.name.startswith("__")
            ]
    return uses


@pytest.mark.parametrize("folder", ["refnet", "gradcheck", "tests", "benchmarks", "examples"])
def test_no_module_uses_another_objects_underscore_names(folder: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): uses
        for path in sorted((ROOT / folder).rglob("*.py"))
        if (uses := foreign_underscore_uses(ast.parse(path.read_text())))
    }
    assert offenders == {}


def test_the_underscore_finder_sees_a_foreign_use() -> None:
    tree = ast.parse("network._prepare(X)\nself._ok()\nsuper()._fine()\nfrom refnet.network import _finite\n")
    assert sorted(foreign_underscore_uses(tree)) == ["line 1: ._prepare", "line 4: import _finite"]
