"""The checks of 04_ipc and 05_queues, called directly (no nbgrader): each mistake fails with its sentence and id,
each correct style passes.

Answers come from the corpus (tests/corpus/<assignment>/) or, for mistakes no corpus file
makes, from the small answers below. The start methods take turns across cases (set
MPCOURSE_DIRECT_START_METHOD to run every case under one); the end-to-end test
(test_assignments.py) grades every corpus file under every start method.
"""
from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from course import START_METHODS
from mpcourse.checks import ipc, queues
from student_code import STARVE, define, expect_verdict, sections

CORPUS = Path(__file__).resolve().parent / "corpus"

#: answers no corpus file needs (each makes one mistake the grader must name)
INLINE = {
    "pipe_raises": """
        def pipe_worker(conn):
            s = conn.recv()
            raise ValueError(f'no thanks: {s}')
    """,
    "pipe_never_returns": """
        def pipe_worker(conn):
            while True:
                s = conn.recv()
                if s is not None:
                    conn.send(s.upper())
    """,
    "pipe_exits_process": """
        import os


        def pipe_worker(conn):
            while (s := conn.recv()) is not None:
                conn.send(s.upper())
            conn.close()
            os._exit(0)
    """,
    "count_exits": """
        import os


        def count_words(lines, n_workers, tokenize):
            os._exit(3)
    """,
    "count_skips_last_line": """
        import collections
        import multiprocessing


        def count_words(lines, n_workers, tokenize):
            with multiprocessing.Pool(n_workers) as pool:
                words = pool.map(tokenize, lines[:-1]) + [lines[-1].split()]
            return dict(collections.Counter(w for ws in words for w in ws))
    """,
    "count_setdefault_then_locked_add": """
        import multiprocessing


        def _count(chunk, tokenize, shared, lock):
            for line in chunk:
                for w in tokenize(line):
                    shared.setdefault(w, 0)          # atomic: one call
                    with lock:
                        shared[w] += 1


        def count_words(lines, n_workers, tokenize):
            with multiprocessing.Manager() as manager:
                shared, lock = manager.dict(), manager.Lock()
                procs = [multiprocessing.Process(target=_count, args=(lines[i::n_workers], tokenize, shared, lock))
                         for i in range(n_workers)]
                for p in procs:
                    p.start()
                for p in procs:
                    p.join()
                return dict(shared)
    """,
    "count_raises": """
        def count_words(lines, n_workers, tokenize):
            raise RuntimeError('not today')
    """,
    "count_no_tokenize": """
        import collections


        def count_words(lines, n_workers, tokenize):
            return dict(collections.Counter(w for line in lines for w in line.split()))
    """,
    "add_overwrites": """
        def add_all(total, numbers):
            with total.get_lock():
                total.value = sum(numbers)
    """,
    "add_keeps_lock": """
        def add_all(total, numbers):
            total.get_lock().acquire()
            for n in numbers:
                total.value += n
    """,
    "add_cell_level_lock": """
        import multiprocessing

        LOCK = multiprocessing.Lock()


        def add_all(total, numbers):
            for n in numbers:
                with LOCK:
                    total.value += n
    """,
    "add_raises": """
        def add_all(total, numbers):
            total.value += numbers
    """,
    "drain_no_wait": """
        import queue


        def drain(q, timeout):
            items = []
            while True:
                try:
                    items.append(q.get_nowait())
                except queue.Empty:
                    return items
    """,
    "drain_keeps_four": """
        import queue


        def drain(q, timeout):
            items = []
            while True:
                try:
                    items.append(q.get(timeout=timeout))
                except queue.Empty:
                    return items[:4]
    """,
    "drain_takes_three": """
        def drain(q, timeout):
            return [q.get(timeout=timeout) for _ in range(3)]
    """,
    "drain_sleeps_forever": """
        import time


        def drain(q, timeout):
            while True:
                time.sleep(0.1)
    """,
    "drain_raises": """
        def drain(q, timeout):
            return [q.get(timeout=-timeout)] + 1
    """,
    "drain_tuple": """
        import queue


        def drain(q, timeout):
            items = []
            while True:
                try:
                    items.append(q.get(timeout=timeout))
                except queue.Empty:
                    return tuple(items)
    """,
    "offer_spins": """
        import queue
        import time


        def offer(q, item):
            while True:
                try:
                    q.put_nowait(item)
                    return True
                except queue.Full:
                    time.sleep(0.01)
    """,
    "offer_stringifies": """
        import queue


        def offer(q, item):
            try:
                q.put_nowait(str(item))
            except queue.Full:
                return False
            return True
    """,
    "collect_raises": """
        def collect(target, n):
            raise OSError('no processes today')
    """,
    "collect_off_by_one": """
        import multiprocessing


        def collect(target, n):
            q = multiprocessing.Queue()
            procs = [multiprocessing.Process(target=target, args=(q, i + 1)) for i in range(n)]
            for p in procs:
                p.start()
            results = [q.get() for _ in procs]
            for p in procs:
                p.join()
            return results
    """,
    "collect_one_too_many": """
        import multiprocessing


        def collect(target, n):
            q = multiprocessing.Queue()
            procs = [multiprocessing.Process(target=target, args=(q, i)) for i in range(n + 1)]
            for p in procs:
                p.start()
            results = [q.get() for _ in range(n)]
            for p in procs:
                p.join()
            return results
    """,
    # every result taken, then starved of CPU (a loaded machine) before it joins all but the first
    "collect_starved_joins_all_but_first": STARVE + textwrap.dedent("""
        import multiprocessing


        def collect(target, n):
            q = multiprocessing.Queue()
            procs = [multiprocessing.Process(target=target, args=(q, i)) for i in range(n)]
            for p in procs:
                p.start()
            results = [q.get() for _ in range(n)]
            _starved(7)
            for p in procs[1:]:
                p.join()
            return results
    """),
    # every result taken, a short join(timeout) of each, then one long sleep instead of waiting for them
    "collect_joins_briefly_then_sleeps": """
        import multiprocessing
        import time


        def collect(target, n):
            q = multiprocessing.Queue()
            procs = [multiprocessing.Process(target=target, args=(q, i)) for i in range(n)]
            for p in procs:
                p.start()
            results = [q.get() for _ in range(n)]
            for p in procs:
                p.join(timeout=0.1)
            time.sleep(5)
            return results
    """,
    "collect_loses_payload": """
        import multiprocessing


        def collect(target, n):
            q = multiprocessing.Queue()
            procs = [multiprocessing.Process(target=target, args=(q, i)) for i in range(n)]
            for p in procs:
                p.start()
            results = [q.get()[0] for _ in procs]
            for p in procs:
                p.join()
            return results
    """,
    "collect_tuple": """
        import multiprocessing


        def collect(target, n):
            q = multiprocessing.Queue()
            procs = [multiprocessing.Process(target=target, args=(q, i)) for i in range(n)]
            for p in procs:
                p.start()
            results = tuple(q.get() for _ in procs)
            for p in procs:
                p.join()
            return results
    """,
}

C, A = "count_words", "add_all"
ASSIGNMENT = {"pipe_worker": "04_ipc", C: "04_ipc", A: "04_ipc", "drain": "05_queues", "offer": "05_queues",
              "collect": "05_queues"}
#: (answer: corpus file or INLINE key, grade_id, check, None or (phrase, mistake id))
CASES = [
    # pipe_worker
    ("reference", "pipe_worker", ipc.check_pipe_worker_closes_its_end, None),
    ("closures_and_cell_lock", "pipe_worker", ipc.check_pipe_worker_answers_every_string, None),
    ("bytes_route_and_closure_queue", "pipe_worker", ipc.check_pipe_worker_answers_every_string, None),
    ("left_open_and_unlocked", "pipe_worker", ipc.check_pipe_worker_closes_its_end,
     ("without closing its end", "pipe_worker/left-open")),
    ("del_conn_and_caller_tokenizes", "pipe_worker", ipc.check_pipe_worker_answers_every_string,
     ("without closing its end", "pipe_worker/left-open")),
    ("stops_on_empty_and_half_locked", "pipe_worker", ipc.check_pipe_worker_answers_every_string,
     ("stopped at the empty string", "pipe_worker/stops-on-empty")),
    ("closes_early_one_worker_private_lock", "pipe_worker", ipc.check_pipe_worker_closes_its_end,
     ("stopped before answering 'Pipe'", "pipe_worker/stops-early")),
    ("quiet_pipe_and_overwrites", "pipe_worker", ipc.check_pipe_worker_answers_every_string,
     ("stopped before answering 'after a pause'", "pipe_worker/stops-early")),
    ("batched_and_greedy", "pipe_worker", ipc.check_pipe_worker_closes_its_end,
     ("did not answer 'hello'", "pipe_worker/no-answer")),
    ("bytes_and_private_locks", "pipe_worker", ipc.check_pipe_worker_closes_its_end,
     ("with bytes that are not a pickled value", "pipe_worker/wrong-answer")),
    ("ack_none_and_dead_proxy", "pipe_worker", ipc.check_pipe_worker_closes_its_end,
     ("sent 'bye' after it received None", "pipe_worker/sent-after-none")),
    ("pipe_raises", "pipe_worker", ipc.check_pipe_worker_closes_its_end,
     ("raised ValueError: no thanks: hello", "pipe_worker/raised")),
    ("pipe_never_returns", "pipe_worker", ipc.check_pipe_worker_closes_its_end,
     ("did not return within", "pipe_worker/no-return")),
    ("pipe_exits_process", "pipe_worker", ipc.check_pipe_worker_closes_its_end,
     ("ended its process", "pipe_worker/ended-process")),
    # count_words
    ("reference", C, ipc.check_count_words_never_loses_a_count, None),
    ("manager_with_lock", C, ipc.check_count_words_two_workers, None),
    ("count_setdefault_then_locked_add", C, ipc.check_count_words_never_loses_a_count, None),
    ("other_routes", C, ipc.check_count_words_small, None),
    ("closures_and_cell_lock", C, ipc.check_count_words_never_loses_a_count, None),
    ("bytes_route_and_closure_queue", C, ipc.check_count_words_small, None),
    ("left_open_and_unlocked", C, ipc.check_count_words_never_loses_a_count,
     ("read the shared count of 'spam' before either wrote it back", "count_words/unlocked-update")),
    ("stops_on_empty_and_half_locked", C, ipc.check_count_words_two_workers,
     ("before either wrote it back", "count_words/unlocked-update")),
    ("bytes_and_private_locks", C, ipc.check_count_words_never_loses_a_count,
     ("before either wrote it back", "count_words/unlocked-update")),
    ("closes_early_one_worker_private_lock", C, ipc.check_count_words_small,
     ("in only one process", "count_words/one-worker")),
    ("del_conn_and_caller_tokenizes", C, ipc.check_count_words_never_loses_a_count,
     ("in the calling process", "count_words/tokenize-in-caller")),
    ("batched_and_greedy", C, ipc.check_count_words_never_loses_a_count,
     ("processes in tokenize at the same time", "count_words/too-many-processes")),
    ("quiet_pipe_and_overwrites", C, ipc.check_count_words_two_workers,
     ("returned wrong counts ('spam'", "count_words/wrong-counts")),
    ("ack_none_and_dead_proxy", C, ipc.check_count_words_small,
     ("DictProxy that could not be read as a dict", "count_words/not-a-dict")),
    ("count_skips_last_line", C, ipc.check_count_words_small,
     ("never called tokenize on 1 of the 5 lines", "count_words/line-not-tokenized")),
    ("count_exits", C, ipc.check_count_words_small, ("ended the checking process", "count_words/ended-the-check")),
    ("count_raises", C, ipc.check_count_words_small, ("raised RuntimeError: not today", "count_words/raised")),
    ("count_no_tokenize", C, ipc.check_count_words_small, ("never called tokenize", "count_words/no-tokenize")),
    # add_all
    ("reference", A, ipc.check_add_all_keeps_every_update, None),
    ("closures_and_cell_lock", A, ipc.check_add_all_once, None),
    ("closures_and_cell_lock", A, ipc.check_add_all_keeps_every_update, None),
    ("bytes_route_and_closure_queue", A, ipc.check_add_all_waits_for_the_lock, None),
    ("left_open_and_unlocked", A, ipc.check_add_all_keeps_every_update,
     ("never took total.get_lock()", "add_all/no-lock")),
    ("closes_early_one_worker_private_lock", A, ipc.check_add_all_waits_for_the_lock,
     ("while another process held total.get_lock(), without ever taking it", "add_all/no-lock")),
    ("stops_on_empty_and_half_locked", A, ipc.check_add_all_keeps_every_update,
     ("read total.value before either wrote it back", "add_all/partial-lock")),
    ("quiet_pipe_and_overwrites", A, ipc.check_add_all_waits_for_the_lock,
     ("after releasing total.get_lock()", "add_all/partial-lock")),
    ("batched_and_greedy", A, ipc.check_add_all_keeps_every_update,
     ("those numbers were skipped", "add_all/gives-up-waiting")),
    ("bytes_and_private_locks", A, ipc.check_add_all_waits_for_the_lock,
     ("gave up and it wrote total.value anyway", "add_all/gives-up-waiting")),
    ("add_cell_level_lock", A, ipc.check_add_all_keeps_every_update, None),     # the callers share it: no loss
    ("add_cell_level_lock", A, ipc.check_add_all_waits_for_the_lock,          # but total's own lock is ignored
     ("a lock of its own, does not keep the others out", "add_all/no-lock")),
    ("add_overwrites", A, ipc.check_add_all_once, ("total.value is 6, expected 106", "add_all/wrong-amount")),
    ("add_keeps_lock", A, ipc.check_add_all_once, ("still held", "add_all/lock-not-released")),
    ("add_raises", A, ipc.check_add_all_once, ("raised TypeError", "add_all/raised")),
]

CASES += [
    # drain
    ("reference", "drain", queues.check_drain_waits_for_late_items, None),
    ("simple_queue_collect", "drain", queues.check_drain_waits_for_late_items, None),
    ("other_styles", "drain", queues.check_drain_gets_every_item, None),
    ("lambda_styles", "drain", queues.check_drain_gets_every_item, None),
    ("sequential_and_cell_queue", "drain", queues.check_drain_gets_every_item, None),
    ("while_not_empty_check_then_put_join_first", "drain", queues.check_drain_waits_for_late_items,
     ("stopped when q.empty() said the queue was empty", "drain/while-not-empty")),
    ("qsize_blocking_put_join_in_loop", "drain", queues.check_drain_waits_for_late_items,
     ("stopped when q.qsize() said", "drain/while-not-empty")),
    ("nowait_put_timeout_no_join", "drain", queues.check_drain_waits_for_late_items,
     ("returned 0 of 5 items", "drain/misses-late-items")),
    ("drain_total_deadline", "drain", queues.check_drain_waits_for_late_items,
     ("of 5 items: the next item", "drain/misses-late-items")),
    ("short_wait_and_extra_get", "drain", queues.check_drain_waits_for_late_items,
     ("sooner than timeout=1 s", "drain/misses-late-items")),
    ("drain_blocking_get", "drain", queues.check_drain_gets_every_item,
     ("called q.get() on an empty queue with nothing more to come", "drain/blocking-get")),
    ("none_sentinel_and_forgets_true", "drain", queues.check_drain_gets_every_item,
     ("stopped at the item None", "drain/stops-on-falsy")),
    ("retries_and_swallows", "drain", queues.check_drain_gets_every_item,
     ("also took an item that came 0.8 s after", "drain/waits-too-long")),
    ("reversed_and_unguarded_nowait", "drain", queues.check_drain_waits_for_late_items,
     ("returned 'e' as item 1, expected 'a'", "drain/wrong-items")),
    ("drain_no_wait", "drain", queues.check_drain_gets_every_item,
     ("after taking the last item", "drain/no-wait")),
    ("drain_keeps_four", "drain", queues.check_drain_gets_every_item,
     ("took 8 items from the queue but returned only 4", "drain/drops-items")),
    ("drain_takes_three", "drain", queues.check_drain_gets_every_item,
     ("returned only the first 3 of 8 items while more were waiting", "drain/misses-items")),
    ("drain_sleeps_forever", "drain", queues.check_drain_gets_every_item,
     ("did not return within", "drain/hangs")),
    ("drain_raises", "drain", queues.check_drain_gets_every_item, ("raised TypeError", "drain/raised")),
    ("drain_tuple", "drain", queues.check_drain_gets_every_item, ("expected a list", "drain/not-a-list")),
    # offer
    ("reference", "offer", queues.check_offer_never_blocks_when_racing, None),
    ("other_styles", "offer", queues.check_offer_once, None),
    ("lambda_styles", "offer", queues.check_offer_three_racing, None),
    ("sequential_and_cell_queue", "offer", queues.check_offer_once, None),
    ("qsize_blocking_put_join_in_loop", "offer", queues.check_offer_never_blocks_when_racing,
     ("called q.put(item) on a full queue", "offer/blocking-put")),
    ("while_not_empty_check_then_put_join_first", "offer", queues.check_offer_three_racing,
     ("checked first (q.full() gave False)", "offer/check-then-put")),
    ("nowait_put_timeout_no_join", "offer", queues.check_offer_once, ("waits up to 1 s for room", "offer/waits")),
    ("none_sentinel_and_forgets_true", "offer", queues.check_offer_never_blocks_when_racing,
     ("exactly 1 should get True", "offer/wrong-answer")),
    ("retries_and_swallows", "offer", queues.check_offer_once,
     ("on a full queue returned True, expected False", "offer/wrong-answer")),
    ("reversed_and_unguarded_nowait", "offer", queues.check_offer_never_blocks_when_racing,
     ("offer raised Full", "offer/raised")),
    ("offer_stringifies", "offer", queues.check_offer_once, ("expected [None, 0]", "offer/wrong-items")),
    ("offer_spins", "offer", queues.check_offer_once, ("did not return within", "offer/hangs")),
    # collect
    ("reference", "collect", queues.check_collect_large_results, None),
    ("simple_queue_collect", "collect", queues.check_collect_large_results, None),
    ("other_styles", "collect", queues.check_collect_small, None),
    ("lambda_styles", "collect", queues.check_collect_large_results, None),
    ("sequential_and_cell_queue", "collect", queues.check_collect_large_results, None),
    ("while_not_empty_check_then_put_join_first", "collect", queues.check_collect_large_results,
     ("each child that put its result is still alive", "collect/join-before-get")),
    ("qsize_blocking_put_join_in_loop", "collect", queues.check_collect_large_results,
     ("waits for its children to end", "collect/join-before-get")),
    ("nowait_put_timeout_no_join", "collect", queues.check_collect_small,
     ("of its 3 processes were still running", "collect/left-running")),
    ("retries_and_swallows", "collect", queues.check_collect_large_results,
     ("process(es) it started were still running", "collect/left-running")),
    ("reference", "collect", queues.check_collect_small, None),
    ("mut_collect_joins_all_but_first", "collect", queues.check_collect_large_results,
     ("of its 4 processes were still running", "collect/left-running")),
    ("slow_exits_joins_all_but_first", "collect", queues.check_collect_large_results,
     ("of its 4 processes were still running", "collect/left-running")),
    ("mut_collect_joins_only_first", "collect", queues.check_collect_small,
     ("of its 3 processes were still running", "collect/left-running")),
    ("mut_collect_get_timeout", "collect", queues.check_collect_small,
     ("no timeout", "collect/gives-up-waiting")),
    ("reversed_and_unguarded_nowait", "collect", queues.check_collect_small,
     ("were still running", "collect/left-running")),
    ("none_sentinel_and_forgets_true", "collect", queues.check_collect_large_results,
     ("in the calling process", "collect/target-in-caller")),
    ("short_wait_and_extra_get", "collect", queues.check_collect_small,
     ("every one of them has ended", "collect/hangs")),
    ("collect_raises", "collect", queues.check_collect_small, ("raised OSError", "collect/raised")),
    ("collect_off_by_one", "collect", queues.check_collect_small,
     ("ran target for i in [1, 2, 3]", "collect/wrong-runs")),
    ("collect_starved_joins_all_but_first", "collect", queues.check_collect_large_results,
     ("of its 4 processes were still running", "collect/left-running")),
    ("collect_joins_briefly_then_sleeps", "collect", queues.check_collect_large_results,
     ("were still running", "collect/left-running")),
    ("collect_one_too_many", "collect", queues.check_collect_large_results,
     ("ran target for i in [0, 1, 2, 3, 4], expected once for each i in range(4)", "collect/wrong-runs")),
    ("collect_one_too_many", "collect", queues.check_collect_small,
     ("ran target for i in [0, 1, 2, 3], expected once for each i in range(3)", "collect/wrong-runs")),
    ("collect_loses_payload", "collect", queues.check_collect_small,
     ("among its results", "collect/wrong-results")),
    ("collect_tuple", "collect", queues.check_collect_small, ("expected a list", "collect/not-a-list")),
]


def _answer(student: str, gid: str):
    if student in INLINE:
        return define(textwrap.dedent(INLINE[student]))[gid]
    source = sections(CORPUS / ASSIGNMENT[gid] / f"{student}.py").get(gid)
    assert source, f"tests/corpus/{ASSIGNMENT[gid]}/{student}.py has no `# %% {gid}` section"
    return define(source)[gid]


@pytest.mark.parametrize(("index", "case"), list(enumerate(CASES)),
                         ids=[f"{c[0]}-{c[2].__name__}" for c in CASES])
def test_check(index, case):
    student, gid, check_fn, failure = case
    method = os.environ.get("MPCOURSE_DIRECT_START_METHOD") or START_METHODS[index % len(START_METHODS)]
    phrase, mistake = failure or (None, None)
    expect_verdict(check_fn, _answer(student, gid), phrase, method, mistake=mistake)


def test_every_mistake_id_has_a_case():
    """Each id a check can report (``failed("<exercise>/<slug>"...)`` in its module) is shown failing here."""
    import re

    declared = set()
    for module in (ipc, queues):
        text = Path(module.__file__).read_text(encoding="utf-8")
        declared |= set(re.findall(r'"((?:pipe_worker|count_words|add_all|drain|offer|collect)/[a-z-]+)"', text))
    tested = {case[3][1] for case in CASES if case[3]}
    not_here = {"pipe_worker/not-started",      # the stage could not start a process: not the student's doing
                "count_words/hangs", "add_all/hangs"}   # each costs its whole time limit; drain/hangs shows the path
    assert declared - tested - not_here == set()
    assert not_here <= declared


def test_a_reply_is_read_from_its_pickle_opcodes_never_unpickled():
    import pickle

    class Boom:
        def __reduce__(self):
            return (os.system, ("echo unpickled",))

    assert ipc._value_of_pickle(pickle.dumps("HI")) == "HI"
    assert ipc._value_of_pickle(pickle.dumps(None)) is None
    assert ipc._value_of_pickle(pickle.dumps(b"x")) == b"x"
    assert repr(ipc._value_of_pickle(pickle.dumps(Boom()))) == "an object that is not a string"
    assert repr(ipc._value_of_pickle(b"HELLO")) == "bytes that are not a pickled value"


@pytest.mark.parametrize("method", ["forkserver", "fork"])
@pytest.mark.parametrize("sandboxed", [False, True], ids=["local", "sandbox"])
def test_processes_tells_helpers_from_the_students_processes(method, sandboxed, monkeypatch):
    """collect's "no process left running" rests on judge.processes(): helpers (the fork server, the resource
    tracker, bubblewrap) are flagged, the student's processes never are (under forkserver they share the fork
    server's cmdline)."""
    import multiprocessing
    import time

    from mpcourse.checks import handover
    from mpcourse.judge import Course, Judge
    from mpcourse.sandbox import Limits, SandboxLauncher

    old = multiprocessing.get_start_method()
    multiprocessing.set_start_method(method, force=True)
    monkeypatch.setenv("COURSE_START_METHOD", method)          # what a sandbox's stage is told (as in grading)
    judge = Judge(handover("f", (len,)), launcher=SandboxLauncher(Limits()) if sandboxed else None)
    try:
        call = judge.call(Course("mpcourse.tasks.daemons:sleep_in_steps"), 5, mode="process", name="sleeper")
        deadline = time.monotonic() + 30
        while call.pid is None and time.monotonic() < deadline:
            time.sleep(0.05)
        procs = judge.processes()
        students = [p for p in procs if not p["helper"] and not p["is_stage"]]
        assert [p["pid"] for p in students] == [call.pid], procs
        assert all("bwrap" not in p["cmdline"] for p in students)
        if method == "forkserver":
            assert any("multiprocessing.forkserver" in p["cmdline"] for p in students)
    finally:
        judge.close()
        multiprocessing.set_start_method(old, force=True)
