"""Draw docs/timeline.png for the README from events that real processes recorded.

    python scripts/make_readme_picture.py
"""
from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import mpcourse


def withdraw_under_lock(timeline: mpcourse.Timeline, lock, work: float) -> None:
    """Some work of its own (a sleep stands in for it), then the critical section under the shared lock."""
    timeline.state("blocked", "sleep: serving")
    time.sleep(work)
    timeline.state("blocked", "lock")
    with lock:
        timeline.state("holding", "lock")
        timeline.mark("read")
        time.sleep(0.03)
        timeline.mark("write")
        timeline.state("running")
    timeline.state("exited")


def main() -> None:
    timeline = mpcourse.Timeline()
    lock = multiprocessing.Lock()
    workers = [multiprocessing.Process(target=withdraw_under_lock, args=(timeline, lock, 0.02 + 0.01 * i),
                                       name=f"withdraw-{i + 1}") for i in range(3)]
    for w in workers:
        w.start()
    timeline.state("blocked", "join")
    for w in workers:
        w.join()
    timeline.state("running")
    out = Path(__file__).resolve().parents[1] / "docs" / "timeline.png"
    timeline.plot(title="Three processes withdraw under one Lock: only the critical section is serial").save(str(out))
    timeline.remove()
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
