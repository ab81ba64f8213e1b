"""The ``gradcheck`` command (also ``python -m gradcheck``).

    gradcheck                         run the whole catalog, print a table and a summary
    gradcheck --list                  list the checks and the refnet classes they cover
    gradcheck -k relu --seed 3        only the checks whose name contains "relu" (any case), seed 3
    gradcheck --sweep                 verdicts from the convergence order (no hand-picked h)
    gradcheck --sweep --plot v.png    and draw the error-vs-h curves, one panel per component
    gradcheck --json report.json      also write the results as JSON (``-`` for stdout)
    gradcheck --check my.py:make      check your own component (refnet's or any forward/backward object)
    gradcheck --timeout 30            give each check at most 30 s (default 120, 0 for no limit)

Exit status: 0 every check passed; 1 a check did not pass (it failed, kinks dominated, it was
inconclusive, or the checked code raised or timed out: the output names the component);
2 usage error, reported on one line before any check runs (bad options, an output file whose
folder does not exist, a ``--check`` target that cannot be imported, built or checked).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from gradcheck.core.guard import guarded
from gradcheck.core.results import Report
from gradcheck.core.table import format_sweep_table
from gradcheck.suite.catalog import public_components, run_catalog, select, uncovered
from gradcheck.usercheck import UsageError, build_user_check

DEFAULT_TIMEOUT = 120.0


def seed_type(text: str) -> int:
    """An integer >= 0 (argparse reports anything else as a usage error)."""
    try:
        seed = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if seed < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {seed}")
    return seed


def timeout_type(text: str) -> float:
    """Seconds >= 0 (0: no limit)."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds >= 0, got {text!r}") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise argparse.ArgumentTypeError(f"expected seconds >= 0, got {text!r}")
    return seconds


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (argparse exits with status 2 on a usage error)."""
    parser = argparse.ArgumentParser(
        prog="gradcheck",
        description="Numerically verify every refnet gradient (central differences, float64) "
        "and every optimizer update (closed forms), or your own component with --check.",
        epilog="exit status: 0 all checks pass; 1 a check failed, was inconclusive or raised (the component is "
        "named); 2 usage error (one line, before any check runs)",
    )
    parser.add_argument("--list", action="store_true", help="list the catalog's checks (after -k) and exit")
    parser.add_argument(
        "-k",
        metavar="PATTERN",
        dest="pattern",
        help="only the catalog checks whose name contains PATTERN as a substring, ignoring case "
        "(-k relu runs ReLU, LeakyReLU, Dense[relu], Dense[leaky_relu], ...); see --list for the names",
    )
    parser.add_argument("--seed", type=seed_type, default=0, metavar="N", help="seed of the check points (default 0)")
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON to PATH ('-' for stdout)")
    parser.add_argument("--sweep", action="store_true", help="judge by convergence order over a sweep of steps h")
    parser.add_argument(
        "--plot", metavar="FILE", help="save the error-vs-h curves, one panel per component (implies --sweep)"
    )
    parser.add_argument(
        "--check",
        metavar="MODULE:FACTORY",
        help="check your own component: MODULE is a dotted name (searched from the current directory too) or a "
        ".py path; FACTORY() returns the component, or (component, inputs)",
    )
    parser.add_argument(
        "--timeout",
        type=timeout_type,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"time limit of each check, and of building the --check component (default {DEFAULT_TIMEOUT:g}; 0: none)",
    )
    return parser


def list_checks(pattern: str | None) -> str:
    """One line per check and the classes it covers, then the coverage of refnet's public components."""
    checks = select(pattern)
    width = max((len(check.name) for check in checks), default=0)
    lines = [f"{check.name.ljust(width)}  covers {', '.join(cls.__name__ for cls in check.covers)}" for check in checks]
    missing = uncovered()
    names = ", ".join(cls.__name__ for cls in public_components())
    lines.append(f"{len(checks)} checks; refnet public components: {names}")
    lines.append("uncovered: " + (", ".join(cls.__name__ for cls in missing) if missing else "none"))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return run(args)
    except UsageError as exc:
        print(f"gradcheck: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `gradcheck | head`: the reader left, which is not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def run(args: argparse.Namespace) -> int:
    """Do what the parsed arguments ask: list, check the catalog or a user's component, report."""
    sweep = args.sweep or args.plot is not None
    timeout = args.timeout or None
    if args.check and args.pattern is not None:
        raise UsageError("-k selects catalog checks; it does not combine with --check")
    if args.list:
        if args.check:
            raise UsageError("--list lists the catalog; it does not combine with --check")
        print(list_checks(args.pattern))
        return 0
    if args.json is not None and args.json != "-":
        writable(args.json, "--json")
    if args.plot is not None:
        validate_plot(args.plot)
    if args.check:
        prepared = build_user_check(args.check, seed=args.seed, sweep=sweep, timeout=timeout)
        report = guarded(prepared.name, prepared.run, timeout)
    else:
        if not select(args.pattern):
            raise UsageError(f"-k {args.pattern!r} matches no check (see gradcheck --list)")
        report = run_catalog(seed=args.seed, pattern=args.pattern, sweep=sweep, timeout=timeout)
    write_outputs(report, args, sweep)
    return 0 if report.passed else 1


def writable(path: str, option: str) -> Path:
    """``path`` if a file can be written there: its folder exists and is writable; else UsageError."""
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"{option}: {path!r} is a folder; give a file name")
    folder = target.parent
    if not folder.is_dir():
        raise UsageError(f"{option}: the folder {str(folder)!r} of {path!r} does not exist")
    if not os.access(folder, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise UsageError(f"{option}: cannot write {path!r} (no permission)")
    return target


def validate_plot(path: str) -> None:
    """UsageError unless matplotlib is installed, ``path`` writable and its suffix a format matplotlib writes."""
    writable(path, "--plot")
    try:
        from refnet.plotting import require_figure

        figure = require_figure()()
    except ImportError as exc:
        raise UsageError(f"--plot: {exc}") from None
    formats = figure.canvas.get_supported_filetypes()
    suffix = Path(path).suffix.lstrip(".").lower()
    if suffix and suffix not in formats:
        raise UsageError(f"--plot: matplotlib cannot write .{suffix} files; use one of: {', '.join(sorted(formats))}")


def write_outputs(report: Report, args: argparse.Namespace, sweep: bool) -> None:
    """The table (to stderr when the JSON goes to stdout), the sweep table, the JSON, the plot."""
    text = report.table(slope=sweep)
    if sweep and any(result.sweep_errors for result in report.results):
        text = format_sweep_table(report.results) + "\n\n" + text
    stream = sys.stderr if args.json == "-" else sys.stdout
    print(text, file=stream)
    try:
        if args.json is not None:
            document = report.to_json(seed=args.seed, pattern=args.pattern, sweep=sweep)
            if args.json == "-":
                print(document)
            else:
                Path(args.json).write_text(document + "\n", encoding="utf-8")
        if args.plot is not None:
            from gradcheck.plot import plot_sweeps

            plot_sweeps(report.results, args.plot)
            print(f"error-vs-h plot written to {args.plot}", file=stream)
    except OSError as exc:
        raise UsageError(f"cannot write the output: {exc}") from None


if __name__ == "__main__":
    raise SystemExit(main())
