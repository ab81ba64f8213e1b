"""gradcheck: numerically verify refnet's gradients and optimizer updates.

Gradients are compared with central differences in float64 (``check_layer``,
``check_loss``, ``check_regularizer``, ``check_network``), optimizer updates with closed
forms (``check_optimizers``); ``run_catalog`` runs the explicit list of checks that covers
every public refnet component. Each returns a ``Report`` of ``CheckResult`` rows. The
thresholds live in ``gradcheck.tolerances``.
"""

from gradcheck.catalog import CATALOG, Check, public_components, run_catalog, uncovered
from gradcheck.checks import check_layer, check_loss, check_network, check_regularizer
from gradcheck.optim import check_optimizers
from gradcheck.results import CheckResult, Report, Verdict, relative_error
from gradcheck.sweep import sweep_line
from gradcheck.tolerances import DEFAULT_TOLERANCES, Tolerances
from gradcheck.usercheck import check_component

__all__ = [
    "CATALOG",
    "DEFAULT_TOLERANCES",
    "Check",
    "CheckResult",
    "Report",
    "Tolerances",
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
    "uncovered",
]
