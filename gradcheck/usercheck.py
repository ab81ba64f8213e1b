"""Check a user's own component: ``gradcheck --check MODULE:FACTORY`` and ``check_component``.

MODULE is a dotted module name (``mypackage.layers``, found from the current directory too)
or the path of a ``.py`` file (``path/to/my_layer.py``); FACTORY is a function in it, called
without arguments, that returns the component, or the component and its example inputs:

    def make():                     # a layer: x drawn as N(0, 1), shape (5, in_features or 4)
        return MyLayer(4, 3)
    def make_with_input():
        return MyLayer(4, 3), x                         # a layer and its input x
    def make_functions():
        return Functions(f, f_vjp, {"W": W}), x         # or (f, f_vjp), x without parameters
    def make_loss():
        return MyLoss(), (y_pred, y_true)               # a loss and its two arguments
    def make_net():
        return network, (X, Y)                          # a NeuralNetwork needs its data

A layer is anything with forward/backward (and params/grads dicts), refnet's or not
(``gradcheck.adapters``). An ElasticNet takes an optional W; an SGD or Adam subclass is
checked against the closed forms.

Everything about the target is validated before any check runs, as a ``UsageError`` (the
command's exit status 2): a module that cannot be imported (a SyntaxError, a failing import),
a missing factory, a factory that raises or does not return in time, something that is not a
component, inputs of the wrong number or with NaN/inf. Once the check runs, whatever the
component's code raises is that check's ``error`` result (exit status 1), never a crash.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from gradcheck.adapters import (
    Functions,
    LayerAdapter,
    float_array,
    is_function_pair,
    is_layer_like,
    is_loss_like,
    name_of,
    refuse_non_finite,
    refuse_non_finite_target,
)
from gradcheck.checks import check_layer, check_loss, check_regularizer
from gradcheck.core.guard import CheckTimeout, guarded, time_limit
from gradcheck.core.kinks import push_from_zero
from gradcheck.core.results import Report
from gradcheck.core.tolerances import Tolerances, tolerances_for
from gradcheck.network_check import check_network
from gradcheck.precision import coarsest
from gradcheck.suite.optim import check_optimizers
from refnet.network import NeuralNetwork
from refnet.optimizers import SGD, Adam
from refnet.regularizers import ElasticNet


class UsageError(ValueError):
    """The ``--check`` target cannot be loaded, built or checked as given."""


@dataclass(frozen=True)
class Prepared:
    """A component and inputs that passed validation: ``run()`` checks them."""

    name: str
    run: Callable[[], Report]


def describe(value: Any) -> str:
    """``42 (an int)``: a value and its type, for messages."""
    kind = type(value).__name__
    article = "an" if kind[:1].lower() in "aeiou" else "a"
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ of the user's object
        text = f"<{kind}>"
    return f"{text if len(text) <= 40 else text[:37] + '...'} ({article} {kind})"


def load_factory(spec: str, timeout: float | None = None) -> Callable[[], Any]:
    """The callable named by ``MODULE:FACTORY`` (MODULE a dotted name or a .py path); UsageError if none."""
    module_name, sep, factory_name = spec.rpartition(":")
    if not sep or not module_name or not factory_name:
        raise UsageError(f"--check expects MODULE:FACTORY (e.g. my_layers:make or path/to/file.py:make), got {spec!r}")
    try:
        with time_limit(timeout):
            module = import_target(module_name)
    except CheckTimeout as exc:
        raise UsageError(f"--check: importing {module_name!r} {exc}") from None
    factory = getattr(module, factory_name, None)
    if factory is None:
        public = ", ".join(name for name in vars(module) if not name.startswith("_") and callable(vars(module)[name]))
        raise UsageError(f"--check: module {module_name!r} has no factory {factory_name!r} (it has: {public})")
    if not callable(factory):
        raise UsageError(f"--check: {module_name}:{factory_name} is {describe(factory)}, not a function")
    return factory


def import_target(module_name: str) -> Any:
    """Import a dotted module (the current directory searched too) or execute a .py file, as a module."""
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
        try:
            module_spec.loader.exec_module(module)
        except (Exception, SystemExit) as exc:
            raise UsageError(f"--check: importing {str(path)!r} raised {type(exc).__name__}: {exc}") from None
        return module
    # `python -m gradcheck` searches the current directory; the `gradcheck` script must too
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise UsageError(f"--check: cannot import module {module_name!r} ({exc})") from None
        raise UsageError(f"--check: importing {module_name!r} raised ModuleNotFoundError: {exc}") from None
    except (Exception, SystemExit) as exc:
        raise UsageError(f"--check: importing {module_name!r} raised {type(exc).__name__}: {exc}") from None


def split_result(result: Any) -> tuple[Any, tuple[Any, ...]]:
    """(component, inputs) from what a factory returned: a component, or a tuple starting with one.

    A tuple (forward, vjp) of two plain functions is a component; so is one that starts a tuple.
    """
    if is_function_pair(result):
        return result, ()
    if not isinstance(result, tuple):
        return result, ()
    if not result:
        raise UsageError("the factory returned an empty tuple; return the component, or (component, inputs)")
    component, inputs = result[0], result[1:]
    if len(inputs) == 1 and isinstance(inputs[0], tuple):
        inputs = inputs[0]
    return component, tuple(inputs)


def prepare_component(
    component: Any,
    inputs: tuple[Any, ...] = (),
    *,
    seed: int = 0,
    tolerances: Tolerances | None = None,
    sweep: bool = False,
    name: str | None = None,
) -> Prepared:
    """Validate a component and its inputs (drawing missing ones) and return how to check it.

    Raises UsageError for anything that is not a checkable component, inputs of the wrong
    number, and inputs with NaN or inf; nothing of the component's own code runs yet.
    """
    rng = np.random.default_rng(seed)
    if is_function_pair(component):
        component = Functions(*component)
    if isinstance(component, type):
        raise UsageError(f"the factory returned the class {component.__name__}; return an instance of it")
    name = name or name_of(component)
    options: dict[str, Any] = {"seed": seed, "tolerances": tolerances, "sweep": sweep, "name": name}
    try:
        if isinstance(component, NeuralNetwork):
            if len(inputs) != 2:
                raise UsageError("a NeuralNetwork factory must return (network, (X, Y))")
            X = float_array(inputs[0], "X")
            refuse_non_finite_target(inputs[1])
            return Prepared(name, lambda: check_network(component, X, inputs[1], **options))
        if isinstance(component, ElasticNet):
            W = float_array(inputs[0], "W") if inputs else push_from_zero(rng.standard_normal((4, 3)), 1e-3)
            return Prepared(name, lambda: check_regularizer(component, W, **options))
        if isinstance(component, Adam):
            return Prepared(name, lambda: only(check_optimizers(adam=type(component)), "Adam", name))
        if isinstance(component, SGD):
            return Prepared(name, lambda: only(check_optimizers(sgd=type(component)), "SGD", name))
        if is_loss_like(component):
            if inputs and len(inputs) != 2:
                raise UsageError("a loss factory must return the loss, or (loss, (y_pred, y_true))")
            y_pred, y_true = inputs or (rng.uniform(0.1, 0.9, (4, 3)), rng.dirichlet(np.ones(3), size=4))
            y_pred = float_array(y_pred, "y_pred")
            refuse_non_finite_target(y_true)
            return Prepared(name, lambda: check_loss(component, y_pred, y_true, **options))
        if is_layer_like(component):
            return prepare_layer(component, inputs, rng, options)
    except UsageError:
        raise
    except (ValueError, TypeError) as exc:
        raise UsageError(f"cannot check {name}: {exc}") from None
    except Exception as exc:  # e.g. a params property of the component that raises
        raise UsageError(f"cannot check {name}: looking at it raised {type(exc).__name__}: {exc}") from None
    raise UsageError(
        f"the factory returned {describe(component)}; expected a layer (an object with forward and "
        "backward), a pair of functions (forward, vjp) or Functions(...), a loss, a NeuralNetwork with (X, Y), "
        "an ElasticNet, or an SGD or Adam (subclass)"
    )


def prepare_layer(
    component: Any, inputs: tuple[Any, ...], rng: np.random.Generator, options: dict[str, Any]
) -> Prepared:
    """A layer's check, at the given input or at x ~ N(0, 1) of shape (5, in_features or 4) kept from 0."""
    adapter = LayerAdapter(component)
    for key, value in adapter.params.items():
        refuse_non_finite(value, f"params[{key!r}]")
    if len(inputs) > 1:
        raise UsageError(f"a layer factory returns (layer, x): got {len(inputs)} inputs; pass several as a list")
    if inputs:
        x = inputs[0]
        xs = [float_array(value, "x") for value in (x if adapter.many else [x])]
        return Prepared(options["name"], lambda: check_layer(component, xs if adapter.many else xs[0], **options))
    width = getattr(component, "in_features", None)
    width = width if isinstance(width, int) and width > 0 else 4
    margin = tolerances_for(coarsest(adapter.params.values())).kink_margin
    drawn = [push_from_zero(rng.standard_normal((5, width)), margin) for _ in range(2 if adapter.many else 1)]
    hint = f" (x of shape {drawn[0].shape} drawn by gradcheck: return (component, x) from the factory to choose x)"

    def run() -> Report:
        report = check_layer(component, drawn if adapter.many else drawn[0], **options)
        for index, result in enumerate(report.results):
            if result.verdict == "error" and "check point" in result.message:
                report.results[index] = replace(result, message=result.message + hint)
        return report

    return Prepared(options["name"], run)


def only(report: Report, kind: str, name: str) -> Report:
    """The results of ``report`` for one optimizer kind, named after the user's component."""
    report.results = [replace(result, component=name) for result in report.results if result.component == kind]
    return report


def check_component(
    component: Any,
    inputs: tuple[Any, ...] = (),
    *,
    seed: int = 0,
    tolerances: Tolerances | None = None,
    sweep: bool = False,
    name: str | None = None,
    timeout: float | None = None,
) -> Report:
    """Check any supported component with the matching check function; draw missing inputs.

    Raises UsageError (a ValueError) for what cannot be checked; whatever the component's own
    code raises, or a check longer than ``timeout`` seconds, is an ``error`` result.
    """
    prepared = prepare_component(component, inputs, seed=seed, tolerances=tolerances, sweep=sweep, name=name)
    return guarded(prepared.name, prepared.run, timeout)


def build_user_check(spec: str, *, seed: int = 0, sweep: bool = False, timeout: float | None = None) -> Prepared:
    """Load ``MODULE:FACTORY``, call the factory (within ``timeout``) and validate what it returns."""
    factory = load_factory(spec, timeout)
    try:
        with time_limit(timeout):
            result = factory()
    except CheckTimeout as exc:
        raise UsageError(f"--check: {spec}() {exc} while building the component (--timeout)") from None
    except (Exception, SystemExit) as exc:
        raise UsageError(f"--check: {spec}() raised {type(exc).__name__}: {exc}") from None
    if result is None:
        raise UsageError(f"--check: {spec}() returned None; return the component, or (component, inputs)")
    try:
        component, inputs = split_result(result)
        return prepare_component(component, inputs, seed=seed, sweep=sweep)
    except UsageError as exc:
        raise UsageError(f"--check: {spec}(): {exc}") from None
