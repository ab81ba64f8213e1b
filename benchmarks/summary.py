"""Print the ratio tables of a benchmark run (markdown), from pytest-benchmark's JSON.

    python benchmarks/summary.py                  # the newest JSON under .benchmarks/
    python benchmarks/summary.py path/to/run.json

Ratios are refnet time / bound time (min over rounds; the median in parentheses), with the
bound timed in the same rounds (see harness.py), so they mean the same on any machine.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: The issue's targets for the training step (core path), by MLP and optimizer.
STEP_TARGETS = {("medium", "sgd"): 1.15, ("large", "sgd"): 1.15, ("large", "adam"): 1.4}
SMALL_TARGET = 3.0
ADAM_FRACTION_TARGET = 0.5
MEMORY_TARGET = 1.5


def newest_json(root: Path) -> Path:
    runs = sorted(root.rglob("*.json"), key=lambda path: path.stat().st_mtime)
    if not runs:
        raise SystemExit(f"no benchmark JSON under {root}/: run `nox -s benchmarks` first")
    return runs[-1]


def table(header: list[str], rows: Iterable[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def ratio(info: dict[str, Any]) -> str:
    return f"{info['ratio_min']:.2f}× ({info['ratio_median']:.2f}×)"


def verdict(value: float, limit: float, higher_is_better: bool = False) -> str:
    ok = value >= limit if higher_is_better else value <= limit
    return ("met" if ok else "missed") + f" ({'≥' if higher_is_better else '≤'} {limit:g})"


def floors(info: dict[str, Any]) -> str:
    keys = ("gemm_plus_copy_ratio", "gemm_plus_update_ratio", "minimal_numpy_ratio")
    if not all(key in info for key in keys):
        return "-"
    return " / ".join(f"{info[key]:.2f}×" for key in keys)


def training_tables(by_kind: dict[str, list[dict[str, Any]]]) -> list[str]:
    step = {(i["mlp"], i["dtype"], i["optimizer"], i["path"]): i for i in by_kind.get("test_training_step", [])}
    if not step:
        return []
    rows = []
    for mlp in ("small", "medium", "large"):
        for dtype in ("float32", "float64"):
            for optimizer in ("sgd", "adam"):
                core = step.get((mlp, dtype, optimizer, "core"))
                if core is None:
                    continue
                public = step.get((mlp, dtype, optimizer, "public"))
                limit = SMALL_TARGET if mlp == "small" else STEP_TARGETS.get((mlp, optimizer))
                rows.append(
                    [
                        mlp,
                        dtype,
                        optimizer,
                        ratio(core),
                        ratio(public) if public else "-",
                        floors(core),
                        f"{core['refnet_gflops']:.1f} / {core['bound_gflops']:.1f}",
                        f"{core['samples_per_s']:,.0f}",
                        verdict(core["ratio_min"], limit) if limit else "-",
                    ]
                )
    header = [
        "MLP",
        "dtype",
        "optimizer",
        "step / GEMM (core)",
        "step / GEMM (public)",
        "floors: GEMM+copy / GEMM+update / minimal NumPy",
        "GFLOP/s refnet / GEMM",
    ]
    return ["## Training step against the GEMM bound", table([*header, "samples/s", "target"], rows)]


def simple_table(title: str, infos: list[dict[str, Any]], keys: list[str]) -> list[str]:
    if not infos:
        return []
    rows = [[str(info[key]) for key in keys] + [ratio(info)] for info in infos]
    return [f"## {title}", table([*keys, f"refnet / {infos[0]['bound']}"], rows)]


def optimizer_table(infos: list[dict[str, Any]]) -> list[str]:
    if not infos:
        return []
    rows = []
    for info in infos:
        target = verdict(info["fraction_of_bound"], ADAM_FRACTION_TARGET, True) if info["update"] == "adam" else "-"
        rows.append(
            [
                info["mlp"],
                info["update"],
                info["dtype"],
                f"{info['parameters']:,}",
                f"{info['refnet_gb_per_s']:.1f} / {info['bound_gb_per_s']:.1f}",
                f"{info['fraction_of_bound']:.0%} ({info['fraction_of_bound_median']:.0%})",
                target,
            ]
        )
    header = ["MLP", "update", "dtype", "params", "GB/s update / copy", "fraction of bound", "target"]
    return ["## Optimizer update against the memory-bandwidth bound", table(header, rows)]


def peer_table(infos: list[dict[str, Any]]) -> list[str]:
    rows = []
    for info in infos:
        rows.append(
            [
                f"{info['epochs']} epochs, batch {info['batch_size']}",
                f"{info['refnet_time_s']:.3f} s",
                f"{info['sklearn_time_s']:.3f} s",
                f"{info['ratio_min']:.2f}×",
                f"{info['refnet_accuracy']:.2%} ± {info.get('refnet_accuracy_std', 0):.2%}",
                f"{info['sklearn_accuracy']:.2%} ± {info.get('sklearn_accuracy_std', 0):.2%}",
                str(len(info["refnet_accuracy_per_seed"])),
            ]
        )
    header = ["digits 64-32-10, Adam", "refnet train", "sklearn fit", "time ratio", "refnet acc", "sklearn acc"]
    header.append("seeds")
    return ["## Peer: scikit-learn MLPClassifier on digits", table(header, rows)] if rows else []


def memory_table(infos: list[dict[str, Any]]) -> list[str]:
    rows = []
    for info in infos:
        peaks = info["peak_bytes_per_epoch"]
        rows.append(
            [
                info["mlp"],
                info["dtype"],
                f"{info['theoretical_bytes'] / 1e6:.2f} MB",
                " / ".join(f"{peak / 1e6:.2f}" for peak in peaks) + " MB",
                f"{info['peak_ratio']:.2f}×",
                f"{info['live_growth_bytes']:+,} B",
                verdict(info["peak_ratio"], MEMORY_TARGET),
            ]
        )
    header = ["MLP (Adam)", "dtype", "theoretical need", "peak per epoch", "peak / need", "live growth", "target"]
    return ["## Memory of a training epoch (tracemalloc)", table(header, rows)] if rows else []


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else newest_json(Path(".benchmarks"))
    run = json.loads(path.read_text())
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for bench in run["benchmarks"]:
        if bench.get("extra_info"):
            by_kind.setdefault(bench["name"].split("[")[0], []).append(bench["extra_info"])
    machine = run.get("machine_info", {})
    blas = machine.get("blas")
    print(f"# refnet benchmarks: {path}")
    print(
        f"{machine.get('cpu', {}).get('brand_raw', '?')}, {machine.get('cpu_count')} CPUs, numpy {machine.get('numpy')}"
    )
    print(f"BLAS: {blas}, {machine.get('blas_threads')} threads\n")
    sections = [
        *training_tables(by_kind),
        *simple_table(
            "Dense layer against the GEMM bound", by_kind.get("test_dense", []), ["shape", "dtype", "direction"]
        ),
        *optimizer_table(by_kind.get("test_optimizer_update", [])),
        *simple_table(
            "Activations against the memory bound",
            by_kind.get("test_activation", []),
            ["activation", "dtype", "direction"],
        ),
        *simple_table(
            "Losses (value and gradient) against the memory bound",
            by_kind.get("test_loss", []),
            ["loss", "shape", "dtype"],
        ),
        *peer_table(by_kind.get("test_digits_against_sklearn", [])),
        *memory_table(by_kind.get("test_epoch_memory", [])),
    ]
    print("\n\n".join(sections))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
