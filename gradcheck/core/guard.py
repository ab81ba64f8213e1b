"""What the checked code may do to a check: raise, or hang. Either becomes the check's result.

gradcheck runs other people's code (their forward, backward, penalty, factory) at points they
did not choose, e.g. at x + h for a large step h. Whatever that code raises is reported as the
check's ``error`` result, naming the component and where it happened; it never crashes the
run. Two things pass through on purpose:

- ``ComponentError``: the checked code raised ``error`` while gradcheck evaluated ``where``;
  raised by ``running(...)`` and caught where a check's result is made;
- ``CheckTimeout``: a check ran longer than its time limit (``time_limit``). It derives from
  ``BaseException``, like ``KeyboardInterrupt``, so that no ``except Exception`` in the
  checked code or in gradcheck's own retries can swallow it.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from gradcheck.core.results import CheckResult, Report


class ComponentError(Exception):
    """The checked component raised ``error`` while gradcheck evaluated ``where``."""

    def __init__(self, where: str, error: BaseException) -> None:
        super().__init__(f"{where} raised {type(error).__name__}: {error}")
        self.where = where
        self.error = error


class CheckTimeout(BaseException):
    """A check ran longer than its time limit."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"timed out after {seconds:g} s")
        self.seconds = seconds


@contextmanager
def running(where: str) -> Iterator[None]:
    """Run the checked code; any exception it raises becomes a ``ComponentError`` naming ``where``."""
    try:
        yield
    except ComponentError:
        raise
    except Exception as exc:
        raise ComponentError(where, exc) from exc


def can_time_out() -> bool:
    """True where ``time_limit`` works: a platform with SIGALRM, in the main thread."""
    return hasattr(signal, "SIGALRM") and threading.current_thread() is threading.main_thread()


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise ``CheckTimeout`` in the running code after ``seconds`` (None or 0: no limit).

    Uses a real-time interval timer (SIGALRM), so it works where ``can_time_out()``: on POSIX
    systems, in the main thread. Elsewhere the limit is not enforced. A timer that was already
    running (an enclosing limit, e.g. a test runner's) is set going again afterwards, less
    the time spent here.
    """
    if not seconds or not can_time_out():
        yield
        return

    def expire(signum: int, frame: FrameType | None) -> None:
        raise CheckTimeout(seconds)

    previous = signal.signal(signal.SIGALRM, expire)
    outer, interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    start = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0.0)
        signal.signal(signal.SIGALRM, previous)
        if outer:
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - start), 1e-3), interval)


def error_result(component: str, tensor: str, problem: BaseException | str) -> CheckResult:
    """The result of a check that could not be carried out: the checked code raised or hung."""
    message = problem if isinstance(problem, str) else str(problem)
    nan = float("nan")
    return CheckResult(
        component=component,
        tensor=tensor,
        index="-",
        analytic=nan,
        numerical=nan,
        abs_error=nan,
        rel_error=nan,
        tolerance=nan,
        verdict="error",
        method="error",
        checked=0,
        message=message,
    )


def guarded(component: str, run: Callable[[], Report], timeout: float | None) -> Report:
    """``run()`` within ``timeout`` seconds; a timeout, or anything ``run`` raises, becomes an error result.

    The one place where a check's failure to run is turned into its result: the catalog and
    ``--check`` both go through it, so no exception from checked code reaches the caller.
    """
    start = time.perf_counter()
    try:
        with time_limit(timeout):
            return run()
    except CheckTimeout as exc:
        problem = f"{exc} (the time limit of one check: --timeout)"
    except Exception as exc:
        problem = f"checking it raised {type(exc).__name__}: {exc}"
    return Report([error_result(component, "-", problem)], time.perf_counter() - start)
