"""Sessions everyone runs: ``nox`` runs tests, lint, typecheck and gradcheck (what CI needs).

``nox -s benchmarks`` and ``nox -s examples`` run on demand.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck", "gradcheck"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite, with every warning turned into an error."""
    session.install("-e", ".[test,plot]")
    session.run("pytest", "-W", "error", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check + ruff format --check."""
    session.install("ruff==0.17.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on refnet and gradcheck."""
    session.install("-e", ".[plot]", "mypy==2.4.1")
    session.run("mypy")


@nox.session
def gradcheck(session: nox.Session) -> None:
    """The README's main command: verify every gradient and optimizer update."""
    session.install("-e", ".")
    session.run("gradcheck", *session.posargs)


@nox.session
def examples(session: nox.Session) -> None:
    """Run every script in examples/ (they assert their own results)."""
    session.install("-e", ".[examples]")
    import pathlib

    for script in sorted(pathlib.Path("examples").glob("*.py")):
        session.run("python", str(script), env={"MPLBACKEND": "Agg", "REFNET_OUT": str(session.create_tmp())})


@nox.session
def benchmarks(session: nox.Session) -> None:
    """pytest-benchmark suites (not in the default run); saves JSON under .benchmarks/ and prints the ratio table.

    Extra arguments go to pytest: ``nox -s benchmarks -- --quick`` is a smoke run (a tenth of
    the rounds, no large MLP); ``-- --benchmark-compare`` compares with the last saved run.
    """
    session.install("-e", ".[bench]")
    session.run(
        "pytest",
        "benchmarks",
        "-p",
        "no:cacheprovider",
        "--benchmark-autosave",
        "--benchmark-storage=.benchmarks",
        "--benchmark-columns=min,median,rounds",
        # --benchmark-compare against a run from another machine warns; keep it a warning.
        "-W",
        "default::pytest_benchmark.logger.PytestBenchmarkWarning",
        *session.posargs,
    )
    session.run("python", "benchmarks/summary.py")
