"""Options and machine information for the benchmark suite (``nox -s benchmarks``)."""

from __future__ import annotations

import os
from typing import Any

import harness
import numpy as np
import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--quick",
        action="store_true",
        help="smoke run: a tenth of the rounds, and the large MLP left out",
    )


def pytest_configure(config: pytest.Config) -> None:
    harness.QUICK = bool(config.getoption("--quick"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not harness.QUICK:
        return
    skip = pytest.mark.skip(reason="--quick leaves out the large MLP")
    for item in items:
        if "large" in item.name:
            item.add_marker(skip)


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict[str, Any]) -> None:
    """Record what the ratios depend on: NumPy, the BLAS it was built with, its thread count."""
    machine_info["numpy"] = np.__version__
    machine_info["cpu_count"] = os.cpu_count()
    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    machine_info["blas"] = f"{blas.get('name')} {blas.get('version')}"
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # threadpoolctl comes with scikit-learn, which the bench extra installs
        return
    threads = [pool["num_threads"] for pool in threadpool_info() if pool.get("user_api") == "blas"]
    machine_info["blas_threads"] = max(threads, default=None)
