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
def mutation(session: nox.Session) -> None:
    """Mutation analysis of refnet's math, gradcheck the only judge (tools/mutation.py); not in the default run.

    Prints the score and every survivor; fails below 95 % of the non-equivalent mutants caught.
    Extra arguments go to the tool: ``nox -s mutation -- -k Dense --jobs 4``.
    """
    session.install("-e", ".")
    session.run("python", "tools/mutation.py", "--fail-under", "95", *session.posargs)


@nox.session
def examples(session: nox.Session) -> None:
    """Run every script in examples/ (they assert their own results)."""
    session.install("-e", ".[examples]")
    import pathlib

    for script in sorted(pathlib.Path("examples").glob("*.py")):
        session.run("python", str(script), env={"MPLBACKEND": "Agg", "REFNET_OUT": str(session.create_tmp())})


#: The benchmark runs unset these (their own runs only, never tests or CI): some machines set them to work
#: around old OpenBLAS builds, which forces an older GEMM kernel than a user's machine picks (see benchmarks/README.md).
BENCHMARK_ENV: dict[str, str | None] = {"OPENBLAS_CORETYPE": None, "OPENBLAS_L2_SIZE": None}


def _run_benchmarks(session: nox.Session, name: str, paths: list[str]) -> None:
    """pytest-benchmark on ``paths``; a run without extra arguments writes benchmarks/results/{name}.json
    and regenerates README's tables from it, any other run only prints its tables."""
    run_json = f"{session.create_tmp()}/{name}-run.json"
    session.run(
        "pytest",
        *paths,
        "-p",
        "no:cacheprovider",
        "--benchmark-autosave",
        "--benchmark-storage=.benchmarks",
        f"--benchmark-json={run_json}",
        "--benchmark-columns=min,median,rounds",
        # --benchmark-compare against a run from another machine warns; keep it a warning.
        "-W",
        "default::pytest_benchmark.logger.PytestBenchmarkWarning",
        *session.posargs,
        env=BENCHMARK_ENV,
    )
    if session.posargs:  # a partial or smoke run: never the committed results
        results = f"{session.create_tmp()}/{name}.json"
        session.run("python", "benchmarks/record.py", run_json, results, f"nox -s {session.name}")
        session.run("python", "benchmarks/summary.py", results)
        return
    session.run("python", "benchmarks/record.py", run_json, f"benchmarks/results/{name}.json", f"nox -s {session.name}")
    session.run("python", "benchmarks/summary.py", "--readme")


@nox.session
def benchmarks(session: nox.Session) -> None:
    """pytest-benchmark suites (not in the default run): benchmarks/results/refnet.json and README's tables.

    Extra arguments go to pytest and make it a trial run that leaves the committed results alone:
    ``nox -s benchmarks -- --quick`` is a smoke run (a tenth of the rounds, no large MLP);
    ``-- --benchmark-compare`` compares with the last saved run under .benchmarks/.
    """
    session.install("-e", ".[bench]")
    _run_benchmarks(session, "refnet", ["benchmarks"])


@nox.session
def peers(session: nox.Session) -> None:
    """refnet against PyTorch eager (CPU) in the same rounds: benchmarks/results/peers.json and README's table.

    PyTorch is installed here only, never by refnet nor by another session. torch==2.13.0 is pinned:
    its CPU wheel (Python 3.11) lies on the development machines' disk; an unpinned ``torch``
    would fetch the CUDA build, gigabytes. Extra arguments go to pytest, as for ``benchmarks``.
    """
    session.install("-e", ".[bench]", "torch==2.13.0")
    _run_benchmarks(session, "peers", ["benchmarks/test_bench_torch.py"])
