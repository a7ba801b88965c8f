"""Child-process functions of lecture 06_producer_consumer (生产者消费者模型).

The story: cooks (producers) make dishes, diners (consumers) eat them. Every function
a child runs lives here so that ``spawn`` and ``forkserver`` children can import it by
name. Children never print: they send what they did back through a queue and record
their states on a Timeline.
"""
from __future__ import annotations

import time
from multiprocessing.connection import Connection
from multiprocessing.queues import JoinableQueue, Queue

from ..timeline import Timeline


# --- coupled: the cook hands each dish over and waits until it is eaten ----------------

def cook_and_wait(conn: Connection, dishes: list[str], cook_time: float, tl: Timeline) -> None:
    """A coupled cook: cook a dish, hand it over, wait until the diner has finished it.

    The cook's speed is tied to the diner's: nobody works while the other does.
    """
    tl.state("running")
    for dish in dishes:
        tl.state("blocked", "sleep: cooking")     # a sleep stands in for cooking
        time.sleep(cook_time)
        conn.send(dish)
        with tl.span("blocked", "recv: diner done?"):
            conn.recv()                             # "finished, next please"
    conn.send(None)
    conn.close()
    tl.state("exited")


def eat_and_ask(conn: Connection, eat_time: float, results: Queue, tl: Timeline) -> None:
    """A coupled diner: wait for a dish, eat it, then tell the cook to go on."""
    tl.state("running")
    eaten = []
    while True:
        with tl.span("blocked", "recv: a dish"):
            dish = conn.recv()
        if dish is None:
            break
        tl.state("blocked", "sleep: eating")      # a sleep stands in for eating
        time.sleep(eat_time)
        tl.mark("ate")
        eaten.append(dish)
        conn.send("next")
    conn.close()
    results.put(eaten)
    tl.state("exited")


# --- decoupled: a queue between them -------------------------------------------------

def cook(q: Queue, dishes: list[str], cook_time: float, tl: Timeline) -> None:
    """A producer: cook each dish and put it on the queue; ``put`` blocks only when a bounded queue is full."""
    tl.state("running")
    for dish in dishes:
        tl.state("blocked", "sleep: cooking")     # a sleep stands in for cooking
        time.sleep(cook_time)
        with tl.span("blocked", "put"):
            q.put(dish)
    tl.state("exited")


def eat(q: Queue, eat_time: float, results: Queue, tl: Timeline) -> None:
    """A consumer: eat dishes until the sentinel (哨兵) ``None`` arrives, then report what it ate.

    It does not stop on ``q.empty()``: an empty queue may only mean the cook is slow.
    """
    tl.state("running")
    eaten = []
    while True:
        with tl.span("blocked", "get"):
            dish = q.get()
        if dish is None:
            break
        tl.state("blocked", "sleep: eating")      # a sleep stands in for eating
        time.sleep(eat_time)
        tl.mark("ate")
        eaten.append(dish)
    results.put(eaten)
    tl.state("exited")


def eat_forever(q: JoinableQueue, eat_time: float, results: Queue, tl: Timeline) -> None:
    """A daemon consumer: no sentinel, it eats forever and calls ``task_done()`` after each dish,
    so the parent's ``q.join()`` learns when every dish has been eaten."""
    tl.state("running")
    while True:
        with tl.span("blocked", "get"):
            dish = q.get()
        tl.state("blocked", "sleep: eating")      # a sleep stands in for eating
        time.sleep(eat_time)
        results.put(dish)
        tl.mark("ate")
        q.task_done()
