"""The 04_ipc and 05_queues checks, called directly: a known mistake fails with its sentence, the fix passes."""
from __future__ import annotations

import queue

import pytest
from mpcourse.checks import CheckFailed, ipc, queues


def pipe_worker_ok(conn):
    while (s := conn.recv()) is not None:
        conn.send(s.upper())
    conn.close()


def pipe_worker_left_open(conn):
    while (s := conn.recv()) is not None:
        conn.send(s.upper())


def add_all_ok(total, numbers):
    for n in numbers:
        with total.get_lock():
            total.value += n


def add_all_unlocked(total, numbers):
    for n in numbers:
        total.value += n


def drain_ok(q, timeout):
    items = []
    while True:
        try:
            items.append(q.get(timeout=timeout))
        except queue.Empty:
            return items


def drain_while_not_empty(q, timeout):
    items = []
    while not q.empty():
        items.append(q.get())
    return items


def offer_ok(q, item):
    try:
        q.put_nowait(item)
        return True
    except queue.Full:
        return False


def offer_check_then_put(q, item):
    if q.full():
        return False
    q.put(item)
    return True


@pytest.mark.parametrize("check, good, bad, sentence", [
    (ipc.check_pipe_worker_closes_its_end, pipe_worker_ok, pipe_worker_left_open, "without closing"),
    (ipc.check_add_all_keeps_every_update, add_all_ok, add_all_unlocked, "get_lock()"),
    (queues.check_drain_waits_for_late_items, drain_ok, drain_while_not_empty, "q.empty()"),
    (queues.check_offer_never_blocks_when_racing, offer_ok, offer_check_then_put, "q.full()"),
])
def test_the_mistake_fails_and_the_fix_passes(check, good, bad, sentence):
    check(good)
    with pytest.raises(CheckFailed, match=".*") as failure:
        check(bad)
    assert sentence in str(failure.value)


def test_tokenize_gives_plain_words_and_records_where_it_ran():
    from mpcourse.timeline import Timeline

    timeline = Timeline()
    words = ipc.make_tokenize(timeline, 1)("to be or not to be")
    assert words == ["to", "be", "or", "not", "to", "be"] and all(type(w) is ipc.Word for w in words)
    assert any(e.what == "running" and e.detail == "tokenize(line)" for e in timeline.events())
    timeline.remove()
