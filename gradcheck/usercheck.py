"""Check a user's own component: ``gradcheck --check MODULE:FACTORY``.

MODULE is a dotted module name (``mypackage.layers``) or the path of a ``.py`` file
(``path/to/my_layer.py``); FACTORY is a function in it, called without arguments, that
returns the component, or the component and its example inputs:

    def make():                     # a Layer: x drawn as N(0, 1), shape (5, in_features)
        return MyLayer(4, 3)
    def make_with_input():
        return MyLayer(4, 3), x                         # a Layer and its input x
    def make_loss():
        return MyLoss(), (y_pred, y_true)               # a Loss and its two arguments
    def make_net():
        return network, (X, Y)                          # a NeuralNetwork needs its data

An ElasticNet takes an optional W; an SGD or Adam subclass is checked against the closed forms.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from gradcheck.checks import check_layer, check_loss, check_network, check_regularizer
from gradcheck.kinks import push_from_zero
from gradcheck.optim import check_optimizers
from gradcheck.results import Report
from gradcheck.tolerances import DEFAULT_TOLERANCES, Tolerances
from refnet.base import Layer
from refnet.losses import Loss
from refnet.network import NeuralNetwork
from refnet.optimizers import SGD, Adam
from refnet.regularizers import ElasticNet


class UsageError(ValueError):
    """The ``--check`` argument names something that cannot be loaded or checked."""


def load_factory(spec: str) -> Callable[[], Any]:
    """The callable named by ``MODULE:FACTORY`` (MODULE a dotted name or a .py path)."""
    module_name, sep, factory_name = spec.rpartition(":")
    if not sep or not module_name or not factory_name:
        raise UsageError(f"--check expects MODULE:FACTORY (e.g. my_layers:make or path/to/file.py:make), got {spec!r}")
    if module_name.endswith(".py") or "/" in module_name or "\\" in module_name:
        path = Path(module_name)
        if not path.is_file():
            raise UsageError(f"--check: no such file {str(path)!r}")
        # A name of its own, so that a file called e.g. json.py shadows nothing; registered in
        # sys.modules while it runs, as an import would (dataclasses and pickling look there).
        module_spec = importlib.util.spec_from_file_location(f"gradcheck_user_{path.stem}", path)
        if module_spec is None or module_spec.loader is None:
            raise UsageError(f"--check: cannot load {str(path)!r} as a Python module")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_spec.name] = module
        module_spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            raise UsageError(f"--check: cannot import module {module_name!r} ({exc})") from exc
    factory = getattr(module, factory_name, None)
    if factory is None:
        public = ", ".join(name for name in vars(module) if not name.startswith("_") and callable(vars(module)[name]))
        raise UsageError(f"--check: module {module_name!r} has no factory {factory_name!r} (it has: {public})")
    if not callable(factory):
        raise UsageError(f"--check: {module_name}:{factory_name} is a {type(factory).__name__}, not a function")
    return factory


def split_result(result: Any) -> tuple[Any, tuple[Any, ...]]:
    """(component, inputs) from what a factory returned: a component, or a tuple starting with one."""
    if not isinstance(result, tuple):
        return result, ()
    component, inputs = result[0], result[1:]
    if len(inputs) == 1 and isinstance(inputs[0], tuple):
        inputs = inputs[0]
    return component, tuple(inputs)


def check_component(
    component: Any,
    inputs: tuple[Any, ...] = (),
    *,
    seed: int = 0,
    tolerances: Tolerances = DEFAULT_TOLERANCES,
    sweep: bool = False,
    name: str | None = None,
) -> Report:
    """Check any supported component with the matching check function; draw missing inputs."""
    rng = np.random.default_rng(seed)
    options: dict[str, Any] = {"seed": seed, "tolerances": tolerances, "sweep": sweep, "name": name}
    if isinstance(component, NeuralNetwork):
        if len(inputs) != 2:
            raise UsageError("a NeuralNetwork factory must return (network, (X, Y))")
        return check_network(component, *inputs, **options)
    if isinstance(component, Layer):
        x = inputs[0] if inputs else rng.standard_normal((5, component.in_features or 4))
        return check_layer(component, x, **options)
    if isinstance(component, Loss):
        if inputs and len(inputs) != 2:
            raise UsageError("a Loss factory must return the loss, or (loss, (y_pred, y_true))")
        y_pred, y_true = inputs or (rng.uniform(0.1, 0.9, (4, 3)), rng.dirichlet(np.ones(3), size=4))
        return check_loss(component, y_pred, y_true, **options)
    if isinstance(component, ElasticNet):
        W = inputs[0] if inputs else push_from_zero(rng.standard_normal((4, 3)), tolerances.kink_margin)
        return check_regularizer(component, W, **options)
    if isinstance(component, Adam):
        return _only(check_optimizers(adam=type(component), tolerances=tolerances), "Adam")
    if isinstance(component, SGD):
        return _only(check_optimizers(sgd=type(component), tolerances=tolerances), "SGD")
    raise UsageError(
        f"the factory returned a {type(component).__name__}; expected a Layer, Loss, ElasticNet, "
        "SGD or Adam (subclass), or NeuralNetwork"
    )


def _only(report: Report, component: str) -> Report:
    report.results = [result for result in report.results if result.component == component]
    return report


def run_user_check(
    spec: str, *, seed: int = 0, tolerances: Tolerances = DEFAULT_TOLERANCES, sweep: bool = False
) -> Report:
    """Load ``MODULE:FACTORY``, call the factory and check what it returns."""
    factory = load_factory(spec)
    try:
        result = factory()
    except Exception as exc:
        raise UsageError(f"--check: {spec}() raised {type(exc).__name__}: {exc}") from exc
    component, inputs = split_result(result)
    try:
        return check_component(component, inputs, seed=seed, tolerances=tolerances, sweep=sweep)
    except UsageError:
        raise
    except (ValueError, TypeError) as exc:  # e.g. float32 parameters, inputs of the wrong shape
        raise UsageError(f"--check: cannot check what {spec}() returned: {type(exc).__name__}: {exc}") from exc
