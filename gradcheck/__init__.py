"""gradcheck: numerically verify refnet's gradients and optimizer updates, or anyone's.

Gradients are compared with central differences in float64 (``check_layer``,
``check_loss``, ``check_regularizer``, ``check_network``), optimizer updates with closed
forms (``check_optimizers``); ``run_catalog`` runs the explicit list of checks that covers
every public refnet component, values against textbook references and stateful updates
(running statistics, clipping, schedules) included. ``check_component`` checks any component: a refnet class,
any object with forward/backward and params/grads dicts, or ``Functions(forward, vjp)``;
a float32 one is rebuilt in float64 where it can be, else checked in float32. Each returns
a ``Report`` of ``CheckResult`` rows. The thresholds live in ``gradcheck.core.tolerances``;
``gradcheck.testing`` has ``assert_gradients`` and hypothesis strategies for test suites.
"""

from gradcheck.adapters import Functions
from gradcheck.checks import check_layer, check_loss, check_regularizer
from gradcheck.core.results import CheckResult, Report, Verdict, relative_error
from gradcheck.core.sweep import sweep_line
from gradcheck.core.tolerances import DEFAULT_TOLERANCES, FLOAT32_TOLERANCES, Tolerances, tolerances_for
from gradcheck.network_check import check_network
from gradcheck.suite.catalog import CATALOG, Check, public_components, run_catalog, uncovered
from gradcheck.suite.optim import check_optimizers
from gradcheck.usercheck import UsageError, check_component

__all__ = [
    "CATALOG",
    "DEFAULT_TOLERANCES",
    "FLOAT32_TOLERANCES",
    "Check",
    "CheckResult",
    "Functions",
    "Report",
    "Tolerances",
    "UsageError",
    "Verdict",
    "check_component",
    "check_layer",
    "check_loss",
    "check_network",
    "check_optimizers",
    "check_regularizer",
    "public_components",
    "relative_error",
    "run_catalog",
    "sweep_line",
    "tolerances_for",
    "uncovered",
]
