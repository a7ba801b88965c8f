"""Benchmark the helper package's costs, as ratios against baselines measured in the same run.

    python scripts/benchmark_platform.py [--repeat 15]

Prints a spawned child's start-up (start + join) when the child imports the helper
package, divided by a bare spawned child's (target <= 1.2); the same for a child that
records a timeline event, and for a notebook-style function sent by value; and the
cost of recording one event. A progress bar counts the measurements on stderr when it is
a terminal.
"""
from __future__ import annotations

import argparse
import compileall
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

CHILD_STARTUP = r"""
import multiprocessing, os, statistics, sys, time
mode, repeat, folder = sys.argv[1], int(sys.argv[2]), sys.argv[3]
if mode == "bare":
    target, args = os.getpid, ()
else:
    import mpcourse
if mode == "package":
    target, args = mpcourse.start_method, ()                      # the child imports the package
elif mode == "recording":
    target, args = mpcourse.Timeline.mark, (mpcourse.Timeline(folder), "started")
elif mode == "by_value":
    namespace = {"__name__": "__main__"}
    exec("def cell_function():\n    return 42\n", namespace)     # as a notebook cell defines it
    target, args = namespace["cell_function"], ()


def main():
    ctx = multiprocessing.get_context("spawn")
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        p = ctx.Process(target=target, args=args)
        p.start()
        p.join()
        times.append(time.perf_counter() - t)
        assert p.exitcode == 0, mode
    print(statistics.median(times))


if __name__ == "__main__":
    main()
"""
MODES = ("bare", "package", "recording", "by_value")


def child_startup(mode: str, repeat: int, folder: str) -> float:
    out = subprocess.run([sys.executable, "-c", CHILD_STARTUP, mode, str(repeat), folder], check=True,
                         capture_output=True, text=True).stdout
    return float(out.strip())


def event_cost_us(n: int = 20000) -> float:
    from mpcourse import Timeline

    timeline = Timeline()
    timeline.mark("warm up")
    t = time.perf_counter()
    for _ in range(n):
        timeline.mark("get", "account=100")
    cost = (time.perf_counter() - t) / n * 1e6
    timeline.remove()
    return cost


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=15, help="children started per measurement")
    args = ap.parse_args()
    # children read bytecode as they would after a normal install (even under PYTHONDONTWRITEBYTECODE)
    compileall.compile_dir(str(Path(__file__).resolve().parents[1] / "mpcourse"), quiet=1)
    results: dict[str, list[float]] = {mode: [] for mode in MODES}
    rounds = 3
    with tempfile.TemporaryDirectory() as folder, tqdm(total=rounds * len(MODES), unit="measurement",
                                                        desc="child start-up", disable=None) as progress:
        for _ in range(rounds):            # interleaved, so machine noise hits every mode alike
            for mode in MODES:
                results[mode].append(child_startup(mode, args.repeat, folder))
                progress.update(1)
    t = {mode: statistics.median(values) for mode, values in results.items()}
    print(f"bare spawned child (start + join):        {t['bare'] * 1000:6.1f} ms")
    print(f"child that imports the helper package:   {t['package'] * 1000:6.1f} ms   "
          f"ratio {t['package'] / t['bare']:.2f}  (target <= 1.2)")
    print(f"child that records a timeline event:     {t['recording'] * 1000:6.1f} ms   "
          f"ratio {t['recording'] / t['bare']:.2f}")
    print(f"child running a notebook cell function:  {t['by_value'] * 1000:6.1f} ms   "
          f"ratio {t['by_value'] / t['bare']:.2f}  (sent by value with cloudpickle)")
    print(f"recording one timeline event:            {event_cost_us():6.1f} us")


if __name__ == "__main__":
    main()
