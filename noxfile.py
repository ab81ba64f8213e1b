"""Sessions: ``nox`` runs what CI needs; ``nox -l`` lists them all.

Default run: the tests on every supported Python found on this machine (3.10–3.13) plus
once with the lowest declared dependencies, ruff, mypy under each Python, gradcheck, and
the package built, checked and installed from its wheel. A Python that is not installed is
skipped, so a machine with a single Python still gets a green ``nox`` for what it has
(``.ci/run`` insists on all four, and also runs ``docs_browser``). ``benchmarks``, ``peers``, ``mutation``,
``examples``, ``docs`` and ``docs_browser`` run on demand.
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import tarfile
import zipfile

import nox

#: The Pythons refnet supports (pyproject.toml's classifiers say the same; a test checks it).
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]

nox.options.sessions = ["tests", "min_deps", "lint", "typecheck", "gradcheck", "package", "onnx"]
nox.options.reuse_existing_virtualenvs = True
# A Python that is not installed is skipped, not an error (nox's default on CI is an error).
nox.options.error_on_missing_interpreters = False


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The test suite (README blocks and docstring examples included), every warning an error."""
    session.install("-e", ".[test,plot]")
    session.run("pytest", "-W", "error", *session.posargs)


@nox.session(python=PYTHONS)
def onnx(session: nox.Session) -> None:
    """The ONNX interop tests with the optional extra installed (refnet[onnx]: onnx and onnxruntime).

    Elsewhere (the tests session) they are skipped. onnx and onnxruntime publish wheels for
    every Python refnet supports (checked with ``pip download`` for 3.10-3.13 on Linux x86-64).
    """
    session.install("-e", ".[test,plot,onnx]")
    onnx_tests = ["tests/test_onnx.py", "tests/test_onnx_import.py", "tests/test_readme.py"]  # README: its ONNX block
    onnx_tests += ["tests/test_onnx_layers.py", "tests/test_onnx_torch.py"]  # issue 23: the later layers, a PyTorch CNN
    session.run("pytest", "-W", "error", *onnx_tests, *session.posargs)


@nox.session(python=PYTHONS[0])
def min_deps(session: nox.Session) -> None:
    """The test suite and gradcheck with every dependency at the lowest version pyproject.toml allows.

    Each ``name>=version`` of the runtime, test and plot requirements is pinned to
    ``name==version`` on the oldest supported Python, so the declared floors are tested floors.
    """
    pyproject = nox.project.load_toml("pyproject.toml")
    project = pyproject["project"]
    extras = project["optional-dependencies"]
    requirements = [*project["dependencies"], *extras["test"], *extras["plot"]]
    floors = [re.sub(r"\s*>=\s*", "==", requirement) for requirement in requirements if ">=" in requirement]
    # pyparsing 3.3 deprecates the camelCase names matplotlib < 3.10.7 calls (a warning, an
    # error under -W error): the floor of matplotlib is tested with the pyparsing of its time.
    floors.append("pyparsing<3.3")
    constraints = session.create_tmp() + "/floors.txt"
    pathlib.Path(constraints).write_text("\n".join(floors) + "\n")
    session.install("-c", constraints, "-e", ".[test,plot]")
    session.run("python", "-c", "import numpy; print('numpy', numpy.__version__)")
    session.run("pytest", "-W", "error", "-q", *session.posargs)
    session.run("gradcheck", "--seed", "0", silent=True)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check + ruff format --check."""
    session.install("ruff==0.17.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHONS)
def typecheck(session: nox.Session) -> None:
    """mypy (strict; tests may leave helpers unannotated) against the NumPy (and its stubs) this Python gets."""
    session.install("-e", ".[test,plot]", "mypy==2.4.1")  # tests import pytest and hypothesis
    session.run("mypy", "--python-version", str(session.python))


@nox.session
def gradcheck(session: nox.Session) -> None:
    """The README's main command: verify every gradient and optimizer update."""
    session.install("-e", ".")
    session.run("gradcheck", *session.posargs)


@nox.session
def package(session: nox.Session) -> None:
    """Build the sdist and wheel, check them, install the wheel in a fresh venv and run it from there.

    The fresh venv and a working folder outside the checkout make sure nothing is imported
    from the source tree: ``gradcheck`` and the seed example run against the installed wheel.
    """
    session.install("build", "twine")
    dist = pathlib.Path(session.create_tmp()).resolve() / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    session.run("python", "-m", "build", "--outdir", str(dist))
    session.run("twine", "check", "--strict", *[str(path) for path in sorted(dist.iterdir())])
    (wheel,) = dist.glob("*.whl")
    (sdist,) = dist.glob("*.tar.gz")
    _check_contents(session, wheel, sdist)

    venv = dist.parent / "wheel-venv"
    shutil.rmtree(venv, ignore_errors=True)
    session.run("python", "-m", "venv", str(venv))
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = str(bin_dir / "python")
    session.run(python, "-m", "pip", "install", "--quiet", str(wheel), external=True)
    seed_example = str(pathlib.Path("examples/seed_example.py").resolve())
    with session.chdir(str(dist.parent)):
        where = "import refnet, gradcheck; print('refnet', refnet.__version__, 'from', refnet.__file__)"
        session.run(python, "-c", where, external=True)
        session.run(str(bin_dir / "gradcheck"), "--seed", "0", external=True, silent=True)
        session.run(python, seed_example, external=True)


def _check_contents(session: nox.Session, wheel: pathlib.Path, sdist: pathlib.Path) -> None:
    """Fail unless the wheel ships both packages with their py.typed markers and the license, and no tests."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    with tarfile.open(sdist) as archive:
        sdist_files = [name.split("/", 1)[-1] for name in archive.getnames()]
    wanted = ["refnet/__init__.py", "refnet/py.typed", "gradcheck/__init__.py", "gradcheck/py.typed"]
    missing = [name for name in wanted if name not in names]
    missing += ["LICENSE in the wheel's metadata"] if not any(name.endswith("/LICENSE") for name in names) else []
    sdist_wanted = ["LICENSE", "README.md", "pyproject.toml"]
    missing += [f"{name} in the sdist" for name in sdist_wanted if name not in sdist_files]
    stray = [name for name in names if name.startswith(("tests/", "benchmarks/", "examples/"))]
    if missing or stray:
        session.error(f"package contents: missing {missing}, should not ship {stray}")
    session.log(f"{wheel.name}: {len(names)} files, py.typed and LICENSE included")


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
    for script in sorted(pathlib.Path("examples").glob("*.py")):
        if script.name in ("outputs.py", "pydoc_text.py"):  # helpers the examples import, not examples
            continue
        session.run("python", str(script), env={"MPLBACKEND": "Agg", "REFNET_OUT": str(session.create_tmp())})


#: The benchmark runs unset these (their own runs only, never tests or CI): some machines set them to work
#: around old OpenBLAS builds, which forces an older GEMM kernel than a user's machine picks (see benchmarks/README.md).
BENCHMARK_ENV: dict[str, str | None] = {"OPENBLAS_CORETYPE": None, "OPENBLAS_L2_SIZE": None}


def _run_benchmarks(session: nox.Session, name: str, paths: list[str]) -> None:
    """pytest-benchmark on ``paths``; a run without extra arguments writes benchmarks/results/{name}.json
    and regenerates docs/benchmarks.md's tables from it, any other run only prints its tables."""
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
    session.run("python", "benchmarks/summary.py", "--docs")


@nox.session
def benchmarks(session: nox.Session) -> None:
    """pytest-benchmark suites (not in the default run): benchmarks/results/refnet.json and docs/benchmarks.md's tables.

    Extra arguments go to pytest and make it a trial run that leaves the committed results alone:
    ``nox -s benchmarks -- --quick`` is a smoke run (a tenth of the rounds, no large MLP);
    ``-- --benchmark-compare`` compares with the last saved run under .benchmarks/.
    """
    session.install("-e", ".[bench]")
    _run_benchmarks(session, "refnet", ["benchmarks"])


@nox.session
def peers(session: nox.Session) -> None:
    """refnet against PyTorch eager (CPU) in the same rounds: benchmarks/results/peers.json, docs/benchmarks.md's table.

    PyTorch is installed here only, never by refnet nor by another session. torch==2.13.0 is pinned:
    its CPU wheel (Python 3.11) lies on the development machines' disk; an unpinned ``torch``
    would fetch the CUDA build, gigabytes. Extra arguments go to pytest, as for ``benchmarks``.
    """
    session.install("-e", ".[bench]", "torch==2.13.0")
    peers = [
        "benchmarks/test_bench_torch.py",  # the MLPs and the recurrent layers
        "benchmarks/test_bench_conv.py::test_cnn_step_against_torch",
        "benchmarks/test_bench_attention.py::test_transformer_block_step",  # its torch row is skipped without torch
        "benchmarks/test_bench_attention.py::test_tiny_gpt_step",  # likewise
    ]
    _run_benchmarks(session, "peers", peers)


#: Where ``nox -s docs`` builds the site, and where ``docs_browser`` leaves its screenshots.
DOCS_HTML = "docs/_build/html"
DOCS_SCREENSHOTS = "docs/_build/screenshots"


def _build_docs(session: nox.Session) -> None:
    """Build the site from scratch (-E), every warning an error: a broken reference, a tutorial cell
    that raises, a gradcheck row that does not pass or an empty generated table fails the build."""
    session.install("-e", ".[docs]")
    shutil.rmtree(DOCS_HTML, ignore_errors=True)  # no page of an earlier build left behind
    session.run(
        "sphinx-build", "-b", "html", "-E", "-W", "--keep-going", "-q", "docs", DOCS_HTML, env={"MPLBACKEND": "Agg"}
    )
    session.log(f"the site is in {DOCS_HTML}/index.html")


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site (Sphinx + MyST-NB): component pages with their source and gradcheck rows, the
    tutorials executed, the notebooks; into docs/_build/html. Needs npm once, to fetch MathJax's package."""
    _build_docs(session)


def _chromium(session: nox.Session) -> str:
    """Debian's Chromium ($CHROMIUM, or /usr/bin/chromium), installed with apt-get when missing (root or sudo -n)."""
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if pathlib.Path(chromium).is_file():
        return chromium
    as_root = [] if os.geteuid() == 0 else ["sudo", "-n"]
    if as_root and shutil.which("sudo") is None:
        session.error("docs_browser needs Debian's chromium: apt-get install chromium (as root), or set CHROMIUM")
    session.run(*as_root, "apt-get", "update", "-qq", external=True)
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    session.run(*as_root, "apt-get", "install", "-y", "-qq", "chromium", external=True, env=env)
    return "/usr/bin/chromium"


@nox.session
def docs_browser(session: nox.Session) -> None:
    """Build the site, then open every page in a real browser (Debian's Chromium driven by Playwright's Python
    driver) from a local server with the network off: fails on a console error, a broken link or image, unrendered
    math, an empty gradcheck table, or a search for "Adam" that finds nothing (docs/browser_check.py, which first
    proves on a broken site that it catches each of these). Screenshots go to docs/_build/screenshots."""
    chromium = _chromium(session)
    session.install("playwright>=1.45")  # the Python driver only: the browser is Debian's, never downloaded
    _build_docs(session)
    session.run(
        "python",
        "docs/browser_check.py",
        DOCS_HTML,
        "--self-test",
        "--chromium",
        chromium,
        "--screenshots",
        DOCS_SCREENSHOTS,
    )
