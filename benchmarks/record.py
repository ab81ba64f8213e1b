"""Condense a pytest-benchmark JSON into the results file committed under benchmarks/results/.

    python benchmarks/record.py RUN.json benchmarks/results/NAME.json "COMMAND"

The results file keeps what a reader needs to trust and reproduce the numbers: the commit
that was measured (and whether the work tree differed from it, the results and docs/benchmarks.md
aside), the command, the date, the CPU model (/proc/cpuinfo's model name) and its vector
extensions, Python, NumPy, the BLAS library with the kernel it ran and its thread count, the
OpenBLAS overrides in force (none, for a benchmark run), and for every benchmark its min/median
time, rounds and ``extra_info`` (the ratios). The nox sessions call it; ``summary.py`` reads the result.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

#: Files a benchmark run itself writes: a change to them does not make the measured tree dirty.
GENERATED = ("benchmarks/results", "docs/benchmarks.md")


def git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout.strip()


def commit_info() -> dict[str, Any]:
    """The measured commit, and whether the work tree differed from it (outside the generated files)."""
    excluded = [f":(exclude){path}" for path in GENERATED]
    changes = git("status", "--porcelain", "--untracked-files=no", "--", ".", *excluded)
    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(changes), "subject": git("log", "-1", "--format=%s")}


def condense(run: dict[str, Any], command: str) -> dict[str, Any]:
    machine = run.get("machine_info", {})
    benchmarks = []
    for bench in run["benchmarks"]:
        stats = bench["stats"]
        entry = {
            "name": bench["name"],
            "group": bench.get("group"),
            "min_s": stats["min"],
            "median_s": stats["median"],
            "rounds": stats["rounds"],
        }
        entry.update(bench.get("extra_info", {}))
        benchmarks.append(entry)
    return {
        **commit_info(),
        "command": command,
        "date": run.get("datetime"),
        "machine": {
            "cpu": (machine.get("cpu_model") or {}).get("model")
            or machine.get("cpu", {}).get("brand_raw")
            or platform.processor(),
            "cpu_extensions": (machine.get("cpu_model") or {}).get("extensions"),
            "cpu_count": machine.get("cpu_count"),
            "python": machine.get("python_version"),
            "numpy": machine.get("numpy"),
            "blas": machine.get("blas"),
            "blas_overrides": machine.get("blas_overrides"),
        },
        "benchmarks": benchmarks,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        raise SystemExit(__doc__)
    run = json.loads(Path(argv[1]).read_text())
    results = condense(run, argv[3])
    output = Path(argv[2])
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=1, sort_keys=False) + "\n")
    print(f"wrote {output} ({len(results['benchmarks'])} benchmarks, commit {results['commit'][:10]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
