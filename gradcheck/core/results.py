"""What a check says: one ``CheckResult`` per tensor, gathered in a ``Report``.

A result names the component and the tensor, the worst element (the one furthest outside
its tolerance), the analytic and numerical values there, their absolute and relative
error, the tolerance used (the absolute error allowed at that element), and the verdict:

- ``pass``: every element agrees within tolerance (a few kinks may have been set aside);
- ``fail``: some element disagrees, and it is not explained by a kink;
- ``kink``: kinks dominate, so the check proves nothing; not a pass;
- ``inconclusive``: the precision of the computation cannot decide (rounding or truncation
  would need more than ``inconclusive`` tolerances); not a pass, and not a confident fail;
  the message says why and what to do;
- ``error``: the check could not be carried out: the checked code raised an exception or ran
  out of time; the message names the exception and where it happened.

For closed-form optimizer checks, ``analytic`` is the closed-form value and ``numerical``
the value the optimizer produced.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from gradcheck.core.table import format_table

Verdict = Literal["pass", "fail", "kink", "inconclusive", "error"]
VERDICTS: tuple[Verdict, ...] = ("pass", "fail", "kink", "inconclusive", "error")


def relative_error(analytic: float, numerical: float) -> float:
    """|a − n| / max(|a|, |n|); 0 when both are 0 (two exact zeros agree perfectly)."""
    scale = max(abs(analytic), abs(numerical))
    if scale == 0.0:
        return 0.0
    return abs(analytic - numerical) / scale


@dataclass(frozen=True)
class CheckResult:
    """The verdict on one tensor of one component, with the evidence at its worst element."""

    component: str  #: the check or component, e.g. "Dense[relu]"
    tensor: str  #: "x", a parameter name ("W"), "layers[0].W", or an optimizer case
    index: str  #: the worst element "(2, 1)", a random "direction 3", or "step 5, [2]"
    analytic: float  #: the component's value there (closed form for optimizers)
    numerical: float  #: the central difference there (the optimizer's value)
    abs_error: float  #: |analytic − numerical|
    rel_error: float  #: |analytic − numerical| / max(|analytic|, |numerical|), 0 if both are 0
    tolerance: float  #: the absolute error allowed at that element, atol + rtol·scale
    verdict: Verdict
    method: str  #: "elementwise", "projection", "sampled elements", "closed form", "error" (+ " + sweep")
    checked: int = 1  #: elements, directions or steps×elements compared
    kinks: int = 0  #: elements set aside as kinks
    message: str = ""  #: why, in one sentence
    slope: float | None = None  #: convergence order from --sweep (≈ 2 right, ≈ 0 wrong)
    sweep_errors: tuple[float, ...] = ()  #: |numerical − analytic| at each sweep step
    sweep_steps: tuple[float, ...] = ()  #: the steps h of ``sweep_errors``

    @property
    def passed(self) -> bool:
        """True for the ``pass`` verdict only."""
        return self.verdict == "pass"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (non-finite numbers become None)."""
        return {key: _json_number(value) for key, value in asdict(self).items()}


def _json_number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, tuple):
        return [_json_number(item) for item in value]
    return value


def exact(result: CheckResult) -> bool:
    """A sweep with no slope to fit: its error never rose above rounding (a linear map's difference is exact)."""
    return bool(result.sweep_errors) and result.slope is None


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


@dataclass
class Report:
    """The results of a set of checks; ``passed`` when every one of them passed."""

    results: list[CheckResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        """True when there is at least one result and every result passed."""
        return bool(self.results) and all(result.passed for result in self.results)

    @property
    def failures(self) -> list[CheckResult]:
        """The results that are not a pass (``fail``, ``kink``, ``inconclusive``, ``error``)."""
        return [result for result in self.results if not result.passed]

    def extend(self, other: Report) -> None:
        """Append another report's results (and time)."""
        self.results.extend(other.results)
        self.seconds += other.seconds

    def counts(self) -> Counter[str]:
        """Number of results per verdict."""
        return Counter(result.verdict for result in self.results)

    def summary(self) -> str:
        """One line: how many checks (components) and results (rows), each verdict's count, the time.

        A check is one component (one catalog entry, as ``gradcheck --list`` counts them); it
        has a result per tensor. Verdicts other than pass and fail are counted when they occur,
        and so are the elements set aside as kinks inside passing results.
        """
        counts = self.counts()
        checks = len({result.component for result in self.results})
        status = "OK" if self.passed else "FAILED"
        verdicts = [f"{counts['pass']} pass", f"{counts['fail']} fail"]
        verdicts += [f"{counts[verdict]} {verdict}" for verdict in VERDICTS[2:] if counts[verdict]]
        kinks = sum(result.kinks for result in self.results if result.passed)
        aside = f"; {_plural(kinks, 'element')} on kinks set aside" if kinks else ""
        return (
            f"{status}: {_plural(checks, 'check')}, {_plural(len(self.results), 'result')}: "
            f"{', '.join(verdicts)}{aside} in {self.seconds:.2f} s"
        )

    def explanations(self) -> str:
        """One line per result that is not a pass or set elements aside as kinks: its component, tensor, why."""
        told = [result for result in self.results if not result.passed or result.kinks or exact(result)]
        return "\n".join(f"  {result.component} {result.tensor}: {result.message}" for result in told)

    def to_json(self, **extra: Any) -> str:
        """The report as a JSON document: ``{"passed", "summary", "results", ...extra}``."""
        document = {
            "passed": self.passed,
            "summary": self.summary(),
            "counts": dict(self.counts()),
            "seconds": self.seconds,
            **extra,
            "results": [result.to_dict() for result in self.results],
        }
        return json.dumps(document, indent=2)

    def table(self, slope: bool = False) -> str:
        """An aligned text table, one row per result, the summary line, and why each non-pass is one."""
        text = format_table(self.results, slope=slope) + "\n" + self.summary()
        explanations = self.explanations()
        return text + ("\n" + explanations if explanations else "")

    def __str__(self) -> str:
        return self.table()
