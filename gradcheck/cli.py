"""The ``gradcheck`` command (also ``python -m gradcheck``).

    gradcheck                         run the whole catalog, print a table and a summary
    gradcheck --list                  list the checks and the refnet classes they cover
    gradcheck -k relu --seed 3        only the checks whose name contains "relu", seed 3
    gradcheck --sweep                 verdicts from the convergence order (no hand-picked h)
    gradcheck --sweep --plot v.png    and draw the error-vs-h curves
    gradcheck --json report.json      also write the results as JSON (``-`` for stdout)
    gradcheck --check my.py:make      check your own layer, loss or network

Exit status: 0 every check passed, 1 a check failed (or kinks dominated), 2 usage error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from gradcheck.catalog import public_components, run_catalog, select, uncovered
from gradcheck.results import Report
from gradcheck.table import format_sweep_table
from gradcheck.tolerances import DEFAULT_TOLERANCES
from gradcheck.usercheck import UsageError, run_user_check


def seed_type(text: str) -> int:
    """An integer >= 0 (argparse reports anything else as a usage error)."""
    try:
        seed = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if seed < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {seed}")
    return seed


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (argparse exits with status 2 on a usage error)."""
    parser = argparse.ArgumentParser(
        prog="gradcheck",
        description="Numerically verify every refnet gradient (central differences, float64) "
        "and every optimizer update (closed forms).",
        epilog="exit status: 0 all checks pass, 1 a check failed, 2 usage error",
    )
    parser.add_argument("--list", action="store_true", help="list the checks (after -k) and exit")
    parser.add_argument("-k", metavar="PATTERN", dest="pattern", help="only checks whose name contains PATTERN")
    parser.add_argument("--seed", type=seed_type, default=0, metavar="N", help="seed of the check points (default 0)")
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON to PATH ('-' for stdout)")
    parser.add_argument("--sweep", action="store_true", help="judge by convergence order over h = 1e-1 .. 1e-8")
    parser.add_argument("--plot", metavar="FILE", help="save the error-vs-h curves (implies --sweep; matplotlib)")
    parser.add_argument(
        "--check", metavar="MODULE:FACTORY", help="check your own component: MODULE is a dotted name or a .py path"
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
        return run(parser, args)
    except BrokenPipeError:  # e.g. `gradcheck | head`: the reader left, which is not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Do what the parsed arguments ask: list, check the catalog or a user's component, report."""
    sweep = args.sweep or args.plot is not None
    if args.list:
        print(list_checks(args.pattern))
        return 0
    if args.plot is not None:
        try:
            from refnet.plotting import require_figure

            require_figure()
        except ImportError as exc:
            parser.error(f"--plot: {exc}")
    if args.check:
        try:
            report = run_user_check(args.check, seed=args.seed, sweep=sweep)
        except UsageError as exc:
            parser.error(str(exc))
    else:
        if not select(args.pattern):
            parser.error(f"-k {args.pattern!r} matches no check (see gradcheck --list)")
        report = run_catalog(seed=args.seed, pattern=args.pattern, sweep=sweep)
    write_outputs(report, args, sweep)
    return 0 if report.passed else 1


def write_outputs(report: Report, args: argparse.Namespace, sweep: bool) -> None:
    """The table (to stderr when the JSON goes to stdout), the sweep table, the JSON, the plot."""
    steps = DEFAULT_TOLERANCES.sweep_steps
    text = report.table(slope=sweep)
    if sweep:
        text = format_sweep_table(report.results, steps) + "\n\n" + text
    for result in report.failures:
        text += f"\n  {result.component} {result.tensor}: {result.message}"
    print(text, file=sys.stderr if args.json == "-" else sys.stdout)
    if args.json is not None:
        document = report.to_json(seed=args.seed, pattern=args.pattern, sweep=sweep)
        if args.json == "-":
            print(document)
        else:
            Path(args.json).write_text(document + "\n", encoding="utf-8")
    if args.plot is not None:
        from gradcheck.plot import plot_sweeps

        plot_sweeps(report.results, steps, args.plot)
        print(f"error-vs-h plot written to {args.plot}", file=sys.stderr if args.json == "-" else sys.stdout)


if __name__ == "__main__":
    raise SystemExit(main())
