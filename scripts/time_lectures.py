#!/usr/bin/env python
"""Time every lecture notebook under each start method (not a test).

Runs each notebook in notebooks/ top to bottom with nbclient, in a fresh kernel whose
environment sets COURSE_START_METHOD (the first cell, ``import mpcourse``, applies it),
and prints a table of wall-clock seconds (a progress bar on stderr when it is a terminal); exits 1 if a
run fails or takes 60 s or more.
The notebooks on disk are not modified.

    python scripts/time_lectures.py                      # all notebooks, fork spawn forkserver
    python scripts/time_lectures.py --methods spawn 07_sockets
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent
METHODS = ("fork", "spawn", "forkserver")
LIMIT = 60          # seconds one lecture may take under any start method


def run_once(path: Path, method: str, timeout: int) -> float:
    """Execute ``path`` under ``method``; return the seconds it took (raises if a cell fails)."""
    nb = nbformat.read(path, as_version=4)
    env = dict(os.environ, COURSE_START_METHOD=method)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute(env=env)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", help="notebook names or paths (default: notebooks/*.ipynb)")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--timeout", type=int, default=120, help="seconds allowed per cell")
    args = parser.parse_args(argv)

    if args.notebooks:
        paths = [Path(n) if Path(n).exists() else ROOT / "notebooks" / (n if n.endswith(".ipynb") else f"{n}.ipynb")
                 for n in args.notebooks]
    else:
        paths = sorted((ROOT / "notebooks").glob("*.ipynb"))
    methods = [m for m in args.methods if m in multiprocessing.get_all_start_methods()]

    width = max(len(p.stem) for p in paths)
    print(f"{'notebook':<{width}}  " + "  ".join(f"{m:>10}" for m in methods), flush=True)
    failed = False
    slowest = 0.0
    progress = tqdm(total=len(paths) * len(methods), unit="run", desc="lectures", disable=None)
    for path in paths:
        cells = []
        for method in methods:
            progress.set_postfix_str(f"{path.stem} {method}")
            try:
                seconds = run_once(path, method, args.timeout)
                slowest = max(slowest, seconds)
                cells.append(f"{seconds:>9.1f}s")
            except Exception as exc:  # noqa: BLE001 (report and go on with the other runs)
                failed = True
                cells.append(f"{'FAILED':>10}")
                progress.write(f"{path.name} under {method}: {type(exc).__name__}: {str(exc)[:300]}", file=sys.stderr)
            progress.update(1)
        progress.write(f"{path.stem:<{width}}  " + "  ".join(cells), file=sys.stdout)
        sys.stdout.flush()
    progress.close()
    print(f"slowest: {slowest:.1f} s (each lecture must stay under {LIMIT} s)")
    return 1 if failed or slowest >= LIMIT else 0


if __name__ == "__main__":
    sys.exit(main())
