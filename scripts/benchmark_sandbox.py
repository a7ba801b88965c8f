"""What a sandbox costs: the same start with and without bubblewrap, measured in the same run.

    python scripts/benchmark_sandbox.py            # 20 rounds each, alternating (so load hits both alike)
    python scripts/benchmark_sandbox.py --rounds 50

Prints, for a bare interpreter (``python -c pass``) and for a Jupyter kernel up to its
first ``kernel_info`` reply, the median time plain and sandboxed, their ratio and the
difference in milliseconds (issue 9's target: a sandbox adds at most 50 ms per kernel).
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time

from tqdm import tqdm


def interpreter_start(sandboxed: bool) -> float:
    from mpcourse.sandbox import Sandbox, Spec

    command = [sys.executable, "-c", "pass"]
    started = time.perf_counter()
    if sandboxed:
        sandbox = Sandbox(command, Spec())
        proc = sandbox.start(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        proc.wait()
        took = time.perf_counter() - started
        sandbox.kill()
        return took
    subprocess.run(command, check=True)
    return time.perf_counter() - started


async def _kernel_start(sandboxed: bool) -> float:
    from jupyter_client import AsyncKernelManager

    from mpcourse.grading import SandboxedKernelManager

    km = SandboxedKernelManager() if sandboxed else AsyncKernelManager()
    started = time.perf_counter()
    await km.start_kernel(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kc = km.client()
    kc.start_channels()
    await kc.wait_for_ready(timeout=120)
    took = time.perf_counter() - started
    kc.stop_channels()
    await km.shutdown_kernel(now=True)
    if sandboxed:
        km.kill_sandbox()
    return took


def kernel_start(sandboxed: bool) -> float:
    return asyncio.run(_kernel_start(sandboxed))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args(argv)
    rows = []
    for label, measure, rounds in (("interpreter start", interpreter_start, args.rounds),
                                   ("kernel start to kernel_info", kernel_start, max(args.rounds // 2, 3))):
        plain, boxed = [], []
        for _ in tqdm(range(rounds), desc=label, disable=not sys.stderr.isatty()):
            plain.append(measure(False))
            boxed.append(measure(True))
        p, b = statistics.median(plain), statistics.median(boxed)
        rows.append((label, p, b))
    print(f"{'what':30} {'plain':>9} {'sandboxed':>10} {'ratio':>6} {'added':>9}")
    for label, p, b in rows:
        print(f"{label:30} {p * 1000:7.1f}ms {b * 1000:8.1f}ms {b / p:6.2f} {(b - p) * 1000:+7.1f}ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
