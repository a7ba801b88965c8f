"""Events from several processes end up on one timeline with one row per process."""
from __future__ import annotations

import multiprocessing

from children import matplotlib_loaded, record_work
from mpcourse import Timeline


def test_three_processes_make_three_rows(tmp_path):
    timeline = Timeline()
    procs = [multiprocessing.Process(target=record_work, args=(timeline, n), name=f"worker-{n}") for n in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    events = timeline.events()
    assert {e.name for e in events} == {"worker-0", "worker-1", "worker-2"}
    assert [e.what for e in events if e.name == "worker-1"] == ["running", "holding", "get", "running", "exited"]
    picture = timeline.plot(title="three workers")
    path = tmp_path / "timeline.png"
    picture.save(str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    labels = [t.get_text() for t in picture.figure.axes[0].get_yticklabels()]
    assert sorted(labels) == ["worker-0", "worker-1", "worker-2"]
    timeline.remove()


def test_spawned_children_do_not_import_matplotlib():
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        assert pool.apply(matplotlib_loaded, (Timeline(),)) is False
