"""Options and machine information for the benchmark suite (``nox -s benchmarks``)."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import harness
import numpy as np
import pytest
from threadpoolctl import threadpool_info


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


def blas_info() -> dict[str, Any]:
    """The BLAS NumPy calls, as threadpoolctl sees it loaded: library, version, the kernel it picked, threads."""
    np.ones((2, 2)) @ np.ones((2, 2))  # make sure the library is loaded
    pools = [pool for pool in threadpool_info() if pool.get("user_api") == "blas"]
    if not pools:
        return {}
    pool = pools[0]
    return {
        "library": pool.get("internal_api"),
        "version": pool.get("version"),
        "kernel": pool.get("architecture"),
        "threads": pool.get("num_threads"),
    }


def cpu_info() -> dict[str, Any]:
    """The CPU model and the vector extensions the BLAS kernels choose between, from /proc/cpuinfo (Linux;
    elsewhere ``platform.processor()`` and no extensions)."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():  # the first processor's lines
            key, _, value = line.partition(":")
            if not key.strip():
                break
            fields[key.strip()] = value.strip()
    except OSError:
        pass
    model = fields.get("model name") or platform.processor() or None
    flags = set(fields.get("flags", "").split())
    extensions = [name for name in ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile") if name in flags]
    return {"model": model, "extensions": extensions}


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict[str, Any]) -> None:
    """What the ratios depend on: the CPU model, NumPy, the BLAS kernel that ran, threads, the OpenBLAS overrides."""
    machine_info["numpy"] = np.__version__
    machine_info["cpu_model"] = cpu_info()
    machine_info["cpu_count"] = os.cpu_count()
    machine_info["blas"] = blas_info()
    machine_info["blas_overrides"] = {name: os.environ.get(name) for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
