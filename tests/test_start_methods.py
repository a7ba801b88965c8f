"""Notebook-defined functions and Process subclasses run in children under every start method."""
from __future__ import annotations

import nbformat
import pytest
from course import START_METHODS
from nbclient import NotebookClient

CELLS = [
    "import multiprocessing as mp\nimport mpcourse",
    '''def square(n, q):
    q.put(("square", n, n * n))


class Doubler(mp.Process):
    def __init__(self, n, q):
        super().__init__()
        self.n, self.q = n, q

    def run(self):
        self.q.put(("double", self.n, self.n * 2))''',
    '''q = mp.Queue()
workers = [mp.Process(target=square, args=(n, q)) for n in range(3)] + [Doubler(5, q)]
for w in workers:
    w.start()
results = sorted(q.get(timeout=60) for _ in workers)
for w in workers:
    w.join()
print(mp.get_start_method(), results, [w.exitcode for w in workers])''',
]


@pytest.mark.parametrize("start_method", START_METHODS)
def test_cell_defined_code_runs_in_children(tmp_path, monkeypatch, start_method):
    monkeypatch.setenv("COURSE_START_METHOD", start_method)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    printed = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    expected = [("double", 5, 10), ("square", 0, 0), ("square", 1, 1), ("square", 2, 4)]
    assert printed.strip() == f"{start_method} {expected} [0, 0, 0, 0]"


def test_unknown_start_method_is_a_clear_error(monkeypatch):
    from mpcourse import _startup

    monkeypatch.setenv("COURSE_START_METHOD", "thread")
    with pytest.raises(ValueError, match="choose one of fork, spawn, forkserver"):
        _startup.apply_start_method()
