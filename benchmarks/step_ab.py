"""Before/after: the training step of two source trees of refnet, timed in alternating processes.

    python benchmarks/step_ab.py BEFORE_TREE AFTER_TREE [--rounds 3] [--path train_step|seam|update]

A tree is a checkout (``git worktree add /tmp/before <commit>``). Each round runs one process per
tree, alternately, so that both see the same machine; a process times one training step of the
medium and large MLPs of ``benchmarks/harness.py``, for SGD and Adam in float32 and float64, and
prints the median of its steps. The step is ``--path``: ``train_step`` (the default) is what
``train`` runs per batch and ``nox -s benchmarks`` times as the ``core`` path (gradients, the
inf/NaN check, the guarded ``optimizer.step``); ``seam`` is the network's gradients and
``optimizer.step``; ``update`` is ``optimizer.step`` alone (on the gradients of one backward).
The table shows, per case, the median over rounds and the ratio after/before. Like
``nox -s benchmarks``, it unsets OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE for its own processes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

STEPS = {"medium": 60, "large": 20}
WARMUP = 5


def time_tree(tree: str, path: str) -> dict[str, float]:
    """Median seconds of one training step per case, for the refnet in ``tree`` (run in a child process)."""
    sys.path[:0] = [tree, os.path.join(tree, "benchmarks")]
    import harness
    import numpy as np

    from refnet.training import train_step

    medians: dict[str, float] = {}
    for mlp, steps in STEPS.items():
        for dtype in (np.float32, np.float64):
            for name in ("sgd", "adam"):
                setup = harness.step_setup(mlp, dtype, name)
                # Before issue 18 the network's seam was the network itself; since, it is ``net.core``.
                seam = getattr(setup.net, "core", setup.net)
                samples = []
                count = steps
                if path == "update":  # one backward for the gradients, then steps of the optimizer alone
                    seam.loss_and_gradients(setup.X, setup.target)
                    count = 3 * steps  # a shorter step: more of them
                for _ in range(WARMUP + count):
                    start = time.perf_counter()
                    if path == "train_step":
                        assert train_step(setup.net, setup.guard, setup.X, setup.target)[2] is None
                    elif path == "update":
                        setup.optimizer.step(setup.net.layers)
                    else:
                        seam.loss_and_gradients(setup.X, setup.target)
                        setup.optimizer.step(setup.net.layers)
                    samples.append(time.perf_counter() - start)
                medians[f"{mlp} {np.dtype(dtype).name} {name}"] = statistics.median(samples[WARMUP:])
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--path", choices=["train_step", "seam", "update"], default="train_step")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(time_tree(args.child, args.path)))
        return
    env = {key: value for key, value in os.environ.items() if key not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    runs: dict[str, list[dict[str, float]]] = {args.before: [], args.after: []}
    for _ in range(args.rounds):
        for tree in runs:
            command = [sys.executable, __file__, args.before, args.after, "--child", tree, "--path", args.path]
            output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
            runs[tree].append(json.loads(output))
    before = {case: statistics.median(run[case] for run in runs[args.before]) for case in runs[args.before][0]}
    after = {case: statistics.median(run[case] for run in runs[args.after]) for case in before}
    print(f"{'case':22s} {'before':>10s} {'after':>10s}  after/before")
    for case in before:
        print(f"{case:22s} {before[case] * 1e3:8.2f}ms {after[case] * 1e3:8.2f}ms  {after[case] / before[case]:.3f}")


if __name__ == "__main__":
    main()
