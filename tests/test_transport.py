"""Every correct style reaches children and judges: cell-defined closures capturing multiprocessing objects.

A student's cell may keep ``LOCK = multiprocessing.Lock()`` (or a Queue, Barrier, Value...)
and use it in the answer function, or build the answer as a closure or a lambda. In their
notebook such code reaches child processes under every start method; the grader must
take it too: the hand-over replaces each captured object by a fresh one of its kind.
"""
from __future__ import annotations

import nbformat
import pytest
from course import START_METHODS
from nbclient import NotebookClient
from student_code import define

from mpcourse._wire import handover_dumps
from mpcourse.checks import CheckFailed, handover
from mpcourse.judge import Judge

CELL_OBJECTS = '''
import multiprocessing as mp
import mpcourse

ctx = mp.get_context()
LOCK, RLOCK, SEM = ctx.Lock(), ctx.RLock(), ctx.Semaphore(2)
EVENT, BARRIER = ctx.Event(), ctx.Barrier(2)
QUEUE, VALUE, ARRAY = ctx.Queue(), ctx.Value("i", 0), ctx.Array("i", 3)
READER, WRITER = ctx.Pipe(duplex=False)


def make_worker(offset):
    def work(i):
        with LOCK, RLOCK, SEM:
            VALUE.value += 1
            ARRAY[i] = i + offset
        BARRIER.wait(30)
        EVENT.set()
        QUEUE.put(i)
        WRITER.send(i * 10)
    return work


worker = make_worker(100)
square = lambda n, q: q.put(n * n)  # noqa: E731
'''

CELL_RUN = '''
children = [ctx.Process(target=worker, args=(i,)) for i in range(2)]
q = ctx.Queue()
children.append(ctx.Process(target=square, args=(7, q)))
for c in children:
    c.start()
got = sorted([QUEUE.get(timeout=60), QUEUE.get(timeout=60)]), sorted([READER.recv(), READER.recv()]), q.get(timeout=60)
for c in children:
    c.join(60)
print(mp.get_start_method(), got, VALUE.value, list(ARRAY)[:2], EVENT.is_set(), [c.exitcode for c in children])
'''


@pytest.mark.parametrize("start_method", START_METHODS)
def test_closures_capturing_multiprocessing_objects_reach_children(tmp_path, monkeypatch, start_method):
    monkeypatch.setenv("COURSE_START_METHOD", start_method)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(CELL_OBJECTS), nbformat.v4.new_code_cell(CELL_RUN)]
    NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    printed = "".join(o.get("text", "") for o in nb.cells[-1].outputs).strip()
    assert printed == f"{start_method} ([0, 1], [0, 10], 49) 2 [100, 101] True [0, 0, 0]"


ANSWER = define('''
import multiprocessing

LOCK = multiprocessing.Lock()
TOTALS = multiprocessing.Value("i", 5)
BARRIER = multiprocessing.Barrier(1)
Q = multiprocessing.Queue()


def uses_cell_objects(n):
    BARRIER.wait(10)
    with LOCK:
        TOTALS.value += n
    Q.put(TOTALS.value)
    return Q.get(timeout=10)


make = lambda: (lambda n: n * 2)  # noqa: E731
doubler = make()
''')


def test_cell_level_objects_are_handed_over_fresh_and_work_in_the_stage():
    judge = Judge(handover("uses_cell_objects", (ANSWER["uses_cell_objects"], ANSWER["doubler"])))
    try:
        first = judge.call(judge.student(0), 3).wait(60)
        again = judge.call(judge.student(0), 4, mode="process").wait(60)
        lam = judge.call(judge.student(1), 21).wait(60)
        assert (first.status, first.value) == ("returned", 8)        # a fresh Value holding the cell's 5
        assert (again.status, again.value) == ("returned", 12)       # the same Value, from another process
        assert (lam.status, lam.value) == ("returned", 42)
    finally:
        judge.close()


def test_a_pipe_made_in_another_cell_is_refused_with_a_sentence_that_names_it():
    code = define('''
import multiprocessing
PARENT, CHILD = multiprocessing.Pipe()


def pipe_worker(conn):
    CHILD.send("x")
''')
    with pytest.raises(ValueError, match="Pipe connection created outside the function"):
        handover_dumps((code["pipe_worker"],))
    with pytest.raises(CheckFailed, match="cannot be checked in a fresh process.*Pipe"):
        handover("pipe_worker", (code["pipe_worker"],))
