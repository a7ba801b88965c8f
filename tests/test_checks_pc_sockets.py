"""The checks of 06_producer_consumer and 07_sockets, called directly (no nbgrader).

Each mistake fails the check built to force it, with its sentence and its stable id; each
correct style passes. The start methods take turns across cases (set
MPCOURSE_DIRECT_START_METHOD to run every case under one); the end-to-end test
(test_assignments.py) grades every corpus file under every start method.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from course import START_METHODS
from mpcourse.checks import producer_consumer as pc
from mpcourse.checks import sockets as sk
from student_code import define, expect_verdict, sections

CORPUS = Path(__file__).resolve().parent / "corpus"
PIPELINE = ("run_pipeline", "consumer", "producer")

#: the reference's producer and consumer, and its run_pipeline: the parts an inline answer gets right
PIPELINE_PARTS = """
import multiprocessing


def producer(q, items):
    for item in items:
        q.put(item)


def consumer(q, results, transform):
    while True:
        item = q.get()
        if item is None:
            break
        results.put(transform(item))
"""
PIPELINE_RUN = """

def run_pipeline(batches, n_consumers, transform, maxsize):
    q = multiprocessing.Queue(maxsize)
    results = multiprocessing.Queue()
    producers = [multiprocessing.Process(target=producer, args=(q, batch)) for batch in batches]
    consumers = [multiprocessing.Process(target=consumer, args=(q, results, transform))
                 for _ in range(n_consumers)]
    for p in consumers + producers:
        p.start()
    for p in producers:
        p.join()
    for _ in consumers:
        q.put(None)
    out = [results.get() for _ in range(sum(len(batch) for batch in batches))]
    for c in consumers:
        c.join()
    return out
"""

#: answers that are not in the corpus (the corpus grades whole notebooks; these pin one mistake each)
INLINE = {
    "producer_reversed": "def producer(q, items):\n    for item in reversed(items):\n        q.put(item)\n",
    "producer_drops_when_full": (
        "import queue\n\n\ndef producer(q, items):\n    for item in items:\n        try:\n"
        "            q.put_nowait(item)\n        except queue.Full:\n            pass\n"),
    "consumer_ignores_sentinel": (
        "def consumer(q, results, transform):\n    while True:\n        item = q.get()\n        if item is None:\n"
        "            continue\n        results.put(transform(item))\n"),
    "consumer_transforms_sentinel": (
        "def consumer(q, results, transform):\n    while True:\n        item = q.get()\n"
        "        results.put(transform(item))\n        if item is None:\n            break\n"),
    "joinable_leaks_new_session": (
        "import multiprocessing\nimport subprocess\nimport sys\n\n\ndef consume(q, results, transform):\n"
        "    while True:\n        item = q.get()\n        results.put(transform(item))\n        q.task_done()\n\n\n"
        "def run_joinable(items, n_consumers, transform):\n"
        "    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], start_new_session=True)\n"
        "    q, results = multiprocessing.JoinableQueue(), multiprocessing.Queue()\n"
        "    workers = [multiprocessing.Process(target=consume, args=(q, results, transform), daemon=True)\n"
        "               for _ in range(n_consumers)]\n    for w in workers:\n        w.start()\n"
        "    for item in items:\n        q.put(item)\n    q.join()\n    out = [results.get() for _ in items]\n"
        "    for w in workers:\n        w.terminate()\n        w.join()\n    return out\n"),
    "recv_raises_on_close": (
        "import struct\n\n\ndef recv_msg(sock):\n    header = b''\n    while len(header) < 4:\n"
        "        chunk = sock.recv(4 - len(header))\n        if not chunk:\n"
        "            raise ConnectionError('closed')\n        header += chunk\n"
        "    (n,) = struct.unpack('>I', header)\n    body = b''\n    while len(body) < n:\n"
        "        chunk = sock.recv(n - len(body))\n        if not chunk:\n            raise ConnectionError('cut')\n"
        "        body += chunk\n    return body\n"),
    "udp_returns_tuple": (
        "import socket\n\n\ndef udp_request(addr, payload, timeout, retries):\n"
        "    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:\n        s.settimeout(timeout)\n"
        "        for _ in range(retries + 1):\n            s.sendto(payload, addr)\n            try:\n"
        "                return s.recvfrom(65535)\n            except socket.timeout:\n                pass\n"
        "    raise TimeoutError('no reply')\n"),
    # --- one mistake id each that no corpus file shows (tests/test_mistake_ids.py keeps the list complete) ---
    "framing_not_written": """
def send_msg(sock, data):
    raise NotImplementedError


def recv_msg(sock):
    raise NotImplementedError
""",
    "send_encodes_bytes": """
import struct


def send_msg(sock, data):
    sock.sendall(struct.pack(">I", len(data)) + data.encode())     # data is bytes already
""",
    "send_loop_off_by_one": """
import struct


def send_msg(sock, data):
    message = struct.pack(">I", len(data)) + data
    sent = 0
    while sent <= len(message):            # <=: once all is sent, send(b'') returns 0, for ever
        sent += sock.send(message[sent:])
""",
    "recv_peeks_for_whole_message": """
import socket
import struct
import time


def send_msg(sock, data):
    sock.sendall(struct.pack(">I", len(data)) + data)


def recv_msg(sock):
    while len(sock.recv(4, socket.MSG_PEEK)) < 4:      # waits for the whole header to be there...
        time.sleep(0.01)
    (n,) = struct.unpack(">I", sock.recv(4))
    while len(sock.recv(n, socket.MSG_PEEK)) < n:      # ...and the whole payload: a peer that sends the next
        time.sleep(0.01)                               # bytes only once these were read never gets there
    return sock.recv(n)
""",
    "recv_little_endian_length": """
import struct


def recv_exactly(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 65536))
        if not chunk:
            break
        buf += chunk
    return buf


def recv_msg(sock):
    header = recv_exactly(sock, 4)
    if not header:
        return None
    if len(header) < 4:
        raise ConnectionError("closed inside the header")
    (n,) = struct.unpack("<I", header)                 # little-endian: the length is in network order
    payload = recv_exactly(sock, n)
    if len(payload) < n:
        raise ConnectionError("closed inside the message")
    return payload
""",
    "serve_hands_over_accept_pair": """
import multiprocessing


def serve(listener, handler, n_clients):
    workers = []
    for _ in range(n_clients):
        conn = listener.accept()                       # a (socket, address) pair, not the connection
        p = multiprocessing.Process(target=handler, args=(conn,))
        p.start()
        workers.append(p)
    for p in workers:
        p.join()
""",
    "serve_args_not_a_tuple": """
import multiprocessing


def serve(listener, handler, n_clients):
    workers = []
    for _ in range(n_clients):
        conn, _addr = listener.accept()
        p = multiprocessing.Process(target=handler, args=conn)     # args=(conn,)
        p.start()
        conn.close()
        workers.append(p)
    for p in workers:
        p.join()
""",
    "serve_never_starts": """
import multiprocessing


def serve(listener, handler, n_clients):
    workers = []
    for _ in range(n_clients):
        conn, _addr = listener.accept()
        workers.append(multiprocessing.Process(target=handler, args=(conn,)))    # start() forgotten
        conn.close()
    for p in multiprocessing.active_children():
        p.join()
""",
    "serve_one_short_no_join": """
import multiprocessing


def serve(listener, handler, n_clients):
    for _ in range(n_clients - 1):                     # one client short...
        conn, _addr = listener.accept()
        multiprocessing.Process(target=handler, args=(conn,)).start()
        conn.close()
    # ...and no join: it returns while its handlers still run
""",
    # every handler gets the first connection: it used to be told the clients were served "one at a time"
    "serve_same_connection_to_all": """
import multiprocessing


def serve(listener, handler, n_clients):
    conns = [listener.accept()[0] for _ in range(n_clients)]
    handlers = [multiprocessing.Process(target=handler, args=(conns[0],)) for _ in conns]
    for h in handlers:
        h.start()
    for conn in conns:
        conn.close()
    for h in handlers:
        h.join()
""",
    "serve_shuts_down_connection": """
import multiprocessing
import socket


def serve(listener, handler, n_clients):
    workers = []
    for _ in range(n_clients):
        conn, _addr = listener.accept()
        p = multiprocessing.Process(target=handler, args=(conn,))
        p.start()
        conn.shutdown(socket.SHUT_RDWR)                # meant to drop the parent's copy: ends the connection itself
        conn.close()
        workers.append(p)
    for p in workers:
        p.join()
""",
    "serve_leaves_logger_running": """
import multiprocessing


def log_lines(lines):
    while True:
        print(lines.get(), flush=True)


def serve(listener, handler, n_clients):
    lines = multiprocessing.Queue()
    logger = multiprocessing.Process(target=log_lines, args=(lines,))      # never stopped nor joined
    logger.start()
    workers = []
    for k in range(n_clients):
        conn, addr = listener.accept()
        p = multiprocessing.Process(target=handler, args=(conn,))
        p.start()
        conn.close()
        workers.append(p)
        lines.put(f"client {k + 1} from {addr}")
    for p in workers:
        p.join()
""",
    "udp_frames_payload": """
import socket
import struct


def udp_request(addr, payload, timeout, retries):
    datagram = struct.pack(">I", len(payload)) + payload     # framed as on a stream: a datagram keeps its bounds
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        for _ in range(1 + retries):
            sock.sendto(datagram, addr)
            try:
                return sock.recvfrom(65535)[0]
            except socket.timeout:
                pass
    raise TimeoutError("no reply")
""",
    "udp_closes_after_first_try": """
import socket


def udp_request(addr, payload, timeout, retries):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(timeout)
    for _ in range(1 + retries):
        try:
            sock.sendto(payload, addr)
            return sock.recvfrom(65535)[0]
        except socket.timeout:
            pass
        finally:
            sock.close()                               # also after a lost try: the next one sends on a closed socket
    raise TimeoutError("no reply")
""",
    "udp_reads_until_close": """
import select
import socket


def udp_request(addr, payload, timeout, retries):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _ in range(1 + retries):
            sock.sendto(payload, addr)
            if not select.select([sock], [], [], timeout)[0]:
                continue                               # nothing in time: send again
            reply = b""
            while True:                                # read until the server closes, as on TCP: UDP never does
                chunk = sock.recv(65535)
                if not chunk:
                    return reply
                reply += chunk
    raise TimeoutError("no reply")
""",
    "udp_returns_none": """
import socket


def udp_request(addr, payload, timeout, retries):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        for _ in range(1 + retries):
            sock.sendto(payload, addr)
            try:
                return sock.recvfrom(65535)[0]
            except socket.timeout:
                pass
    return None                                        # no reply: None instead of TimeoutError
""",
    "udp_waits_too_little_in_all": """
import socket
import time


def udp_request(addr, payload, timeout, retries):
    deadline = time.monotonic() + timeout * retries    # one timeout short: 1 + retries tries
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for tries_left in range(1 + retries, 0, -1):
            sock.sendto(payload, addr)
            sock.settimeout(max(deadline - time.monotonic(), 0.001) / tries_left)     # share what is left
            try:
                return sock.recvfrom(65535)[0]
            except socket.timeout:
                pass
    raise TimeoutError("no reply")
""",
    "udp_reads_in_pieces": """
import socket


def udp_request(addr, payload, timeout, retries):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        for _ in range(1 + retries):
            sock.sendto(payload, addr)
            reply = b""
            try:
                while True:                            # in pieces, as from a stream: the rest of a datagram is lost
                    chunk, _sender = sock.recvfrom(4096)
                    reply += chunk
                    if len(chunk) < 4096:
                        return reply
            except socket.timeout:
                pass
    raise TimeoutError("no reply")
""",
    "consumer_calls_task_done": """
def consumer(q, results, transform):
    while True:
        item = q.get()
        if item is None:
            break
        results.put(transform(item))
        q.task_done()                                  # a JoinableQueue's method: q is a plain Queue
""",
    # waits on the wrong queue: it used to be told it "did not return after it received the sentinel"
    "consumer_reads_results": """
def consumer(q, results, transform):
    while True:
        item = results.get()
        if item is None:
            break
        results.put(transform(item))
""",
    # off by one: it used to be told it lost the item "while the queue was full"
    "producer_skips_last_item": """
def producer(q, items):
    for i in range(len(items) - 1):
        q.put(items[i])
""",
    # a consumer that gives up after 1.5 s with a caller that puts at once: it passed the visible test every run
    "joinable_gives_up_after_a_while": """
import multiprocessing
import queue


def joinable_consumer(q, results, transform):
    while True:
        try:
            item = q.get(timeout=1.5)
        except queue.Empty:
            return
        try:
            results.put(transform(item))
        finally:
            q.task_done()


def run_joinable(items, n_consumers, transform):
    q = multiprocessing.JoinableQueue()
    results = multiprocessing.Queue()
    consumers = [multiprocessing.Process(target=joinable_consumer, args=(q, results, transform), daemon=True)
                 for _ in range(n_consumers)]
    for c in consumers:
        c.start()
    for item in items:
        q.put(item)
    q.join()
    out = [results.get() for _ in items]
    for c in consumers:
        c.terminate()
        c.join()
    return out
""",
    # the same consumer waiting in short timed gets, but it goes on waiting: correct (the checker waits it out)
    "joinable_polls_and_keeps_waiting": """
import multiprocessing
import queue


def joinable_consumer(q, results, transform):
    while True:
        try:
            item = q.get(timeout=0.2)
        except queue.Empty:
            continue
        try:
            results.put(transform(item))
        finally:
            q.task_done()


def run_joinable(items, n_consumers, transform):
    q = multiprocessing.JoinableQueue()
    results = multiprocessing.Queue()
    consumers = [multiprocessing.Process(target=joinable_consumer, args=(q, results, transform), daemon=True)
                 for _ in range(n_consumers)]
    for c in consumers:
        c.start()
    for item in items:
        q.put(item)
    q.join()
    out = [results.get() for _ in items]
    for c in consumers:
        c.terminate()
        c.join()
    return out
""",
    "consumer_waits_for_producers": """
import time


def consumer(q, results, transform):
    time.sleep(30)                                     # until the producers are surely done...
    while not q.empty():                               # ...then drain the queue
        item = q.get()
        if item is None:
            break
        results.put(transform(item))
""",
    "consumer_puts_one_list": """
def consumer(q, results, transform):
    done = []
    while True:
        item = q.get()
        if item is None:
            break
        done.append(transform(item))
    results.put(done)                                  # one list at the end, not one result per item
""",
    "producer_joins_queue": """
def producer(q, items):
    for item in items:
        q.put(item)
    q.join()                                           # a JoinableQueue's method: q is a plain Queue
""",
    "producer_sleeps_before_returning": """
import time


def producer(q, items):
    for item in items:
        q.put(item)
    time.sleep(60)                                     # gives the consumers time to catch up
""",
    "producer_overlapping_pairs": """
def producer(q, items):
    for i in range(len(items)):                        # meant range(0, len(items), 2): the pairs overlap
        for item in items[i:i + 2]:
            q.put(item)
""",
    "pipeline_assumes_equal_batches": PIPELINE_PARTS + """

def run_pipeline(batches, n_consumers, transform, maxsize):
    q = multiprocessing.Queue(maxsize)
    results = multiprocessing.Queue()
    producers = [multiprocessing.Process(target=producer, args=(q, batch)) for batch in batches]
    consumers = [multiprocessing.Process(target=consumer, args=(q, results, transform))
                 for _ in range(n_consumers)]
    for p in consumers + producers:
        p.start()
    for p in producers:
        p.join()
    for _ in consumers:
        q.put(None)
    out = [results.get() for _ in range(len(batches) * len(batches[0]))]     # as if every batch were as long
    for c in consumers:
        c.join()
    return out
""",
    "pipeline_joins_plain_queue": PIPELINE_PARTS + """

def run_pipeline(batches, n_consumers, transform, maxsize):
    q = multiprocessing.Queue(maxsize)
    results = multiprocessing.Queue()
    producers = [multiprocessing.Process(target=producer, args=(q, batch)) for batch in batches]
    consumers = [multiprocessing.Process(target=consumer, args=(q, results, transform))
                 for _ in range(n_consumers)]
    for p in consumers + producers:
        p.start()
    for p in producers:
        p.join()
    for _ in consumers:
        q.put(None)
    q.join()                                           # a JoinableQueue's method: q is a plain Queue
    out = [results.get() for _ in range(sum(len(batch) for batch in batches))]
    for c in consumers:
        c.join()
    return out
""",
    # item 0 comes back as a made-up 0 (passed through as it is, the item itself comes back: wrong-results)
    "consumer_makes_up_zero": """
import multiprocessing


def producer(q, items):
    for item in items:
        q.put(item)


def consumer(q, results, transform):
    while True:
        item = q.get()
        if item is None:
            break
        if not item:
            results.put(0)                             # an "empty" item: nothing to transform
        else:
            results.put(transform(item))
""" + PIPELINE_RUN,
    "joinable_never_started": """
import multiprocessing


def joinable_consumer(q, results, transform):
    while True:
        item = q.get()
        try:
            results.put(transform(item))
        finally:
            q.task_done()


def run_joinable(items, n_consumers, transform):
    q = multiprocessing.JoinableQueue()
    results = multiprocessing.Queue()
    consumers = [multiprocessing.Process(target=joinable_consumer, args=(q, results, transform), daemon=True)
                 for _ in range(n_consumers)]                  # start() forgotten
    for item in items:
        q.put(item)
    q.join()
    out = [results.get() for _ in items]
    for c in consumers:
        c.terminate()
        c.join()
    return out
""",
    "joinable_join_timeout": """
import multiprocessing


def joinable_consumer(q, results, transform):
    while True:
        item = q.get()
        try:
            results.put(transform(item))
        finally:
            q.task_done()


def run_joinable(items, n_consumers, transform):
    q = multiprocessing.JoinableQueue()
    results = multiprocessing.Queue()
    consumers = [multiprocessing.Process(target=joinable_consumer, args=(q, results, transform), daemon=True)
                 for _ in range(n_consumers)]
    for c in consumers:
        c.start()
    for item in items:
        q.put(item)
    q.join(timeout=10)                                 # JoinableQueue.join() takes no timeout
    out = [results.get() for _ in items]
    for c in consumers:
        c.terminate()
        c.join()
    return out
""",
    "joinable_threads": """
import multiprocessing
import threading


def joinable_consumer(q, results, transform):
    while True:
        item = q.get()
        try:
            results.put(transform(item))
        finally:
            q.task_done()


def run_joinable(items, n_consumers, transform):
    q = multiprocessing.JoinableQueue()
    results = multiprocessing.Queue()
    consumers = [threading.Thread(target=joinable_consumer, args=(q, results, transform), daemon=True)
                 for _ in range(n_consumers)]          # threads of the caller, not processes
    for c in consumers:
        c.start()
    for item in items:
        q.put(item)
    q.join()
    return [results.get() for _ in items]
""",
    # item 0 comes back as a made-up 0 while a debug line transforms every other item twice (with fewer
    # transforms than items, joinable/returned-early is named first)
    "joinable_makes_up_zero_debug_line": """
import multiprocessing


def joinable_consumer(q, results, transform):
    while True:
        item = q.get()
        try:
            if not item:
                results.put(0)                         # an "empty" item: nothing to transform
            else:
                print(item, "->", transform(item))     # a debug line that transforms it once more
                results.put(transform(item))
        finally:
            q.task_done()


def run_joinable(items, n_consumers, transform):
    q = multiprocessing.JoinableQueue()
    results = multiprocessing.Queue()
    consumers = [multiprocessing.Process(target=joinable_consumer, args=(q, results, transform), daemon=True)
                 for _ in range(n_consumers)]
    for c in consumers:
        c.start()
    for item in items:
        q.put(item)
    q.join()
    out = [results.get() for _ in items]
    for c in consumers:
        c.terminate()
    for c in consumers:
        c.join()
    return out
""",
}


def _answer(assignment: str, student: str, gid: str, names: tuple[str, ...]):
    if student in INLINE:
        namespace = define(INLINE[student])
    else:
        found = sections(CORPUS / assignment / f"{student}.py")
        namespace = define(found.get(gid) or sections(CORPUS / assignment / "reference.py")[gid])
    objects = tuple(namespace[name] for name in names)
    return objects if len(objects) > 1 else objects[0]


P, S = "06_producer_consumer", "07_sockets"
#: (assignment, student, answer grade_id, names handed over, check, None or (phrase, mistake id))
CASES = [
    (P, "reference", "pipeline", PIPELINE, pc.check_run_pipeline, None),
    (P, "alt_manager_and_subclasses", "pipeline", PIPELINE, pc.check_run_pipeline, None),
    (P, "lambda_targets", "pipeline", PIPELINE, pc.check_run_pipeline_busy_consumers, None),
    (P, "pipes_and_process_subclass", "pipeline", PIPELINE, pc.check_run_pipeline_busy_consumers, None),
    (P, "sentinel_relay", "pipeline", PIPELINE, pc.check_run_pipeline, None),
    (P, "stops_on_empty_sentinel_no_task_done", "pipeline", PIPELINE, pc.check_run_pipeline,
     ("q.empty() said True", "pipeline/stops-when-empty")),
    (P, "get_timeout_gives_up", "pipeline", PIPELINE, pc.check_run_pipeline, ("ran out", "pipeline/stops-when-empty")),
    (P, "stops_at_falsy_item", "pipeline", PIPELINE, pc.check_run_pipeline, ("falsy", "pipeline/stops-at-falsy-item")),
    (P, "sentinels_and_task_done_too_early", "pipeline", PIPELINE, pc.check_run_pipeline,
     ("a None reached it too early", "pipeline/sentinel-too-early")),
    (P, "sentinel_per_producer", "pipeline", PIPELINE, pc.check_run_pipeline,
     ("never let a producer put None", "pipeline/sentinel-too-early")),
    (P, "producers_then_consumers_unbounded", "pipeline", PIPELINE, pc.check_run_pipeline,
     ("no consumer process was running", "pipeline/no-overlap")),
    (P, "one_sentinel_no_task_done", "pipeline", PIPELINE, pc.check_run_pipeline, ("one None stops one consumer",
                                                                         "pipeline/one-sentinel")),
    (P, "consumers_left_running", "pipeline", PIPELINE, pc.check_run_pipeline, ("still running",
                                                                              "pipeline/left-running")),
    (P, "one_producer_for_all", "pipeline", PIPELINE, pc.check_run_pipeline, ("batches 1 and 2",
                                                                              "pipeline/producer-count")),
    (P, "caller_puts_items", "pipeline", PIPELINE, pc.check_run_pipeline, ("the caller put them",
                                                                           "pipeline/producer-count")),
    (P, "too_few_consumers", "pipeline", PIPELINE, pc.check_run_pipeline_busy_consumers, ("only 2 consumers",
                                                                                   "pipeline/consumer-count")),
    (P, "joins_before_reading_or_stopping", "pipeline", PIPELINE, pc.check_run_pipeline_busy_consumers,
     ("read every result before joining", "pipeline/join-before-results")),
    (P, "unbounded_queue_non_daemons", "pipeline", PIPELINE, pc.check_run_pipeline_busy_consumers,
     ("Queue(maxsize)", "pipeline/unbounded-queue")),
    (P, "reference", "pipeline", PIPELINE, pc.check_run_pipeline_late_producer, None),
    (P, "alt_manager_and_subclasses", "pipeline", PIPELINE, pc.check_run_pipeline_late_producer, None),
    (P, "lambda_targets", "pipeline", PIPELINE, pc.check_run_pipeline_late_producer, None),
    (P, "pipes_and_process_subclass", "pipeline", PIPELINE, pc.check_run_pipeline_late_producer, None),
    (P, "sentinel_relay", "pipeline", PIPELINE, pc.check_run_pipeline_late_producer, None),
    (P, "mut_joins_producers_but_first", "pipeline", PIPELINE, pc.check_run_pipeline,
     ("a None reached it too early", "pipeline/sentinel-too-early")),
    (P, "mut_sentinel_put_nowait", "pipeline", PIPELINE, pc.check_run_pipeline_late_producer,
     ("which waits for room", "pipeline/gives-up-on-full-queue")),
    (P, "mut_results_get_nowait", "pipeline", PIPELINE, pc.check_run_pipeline_late_producer,
     ("read the results with results.get()", "pipeline/gives-up-waiting")),
    (P, "sleeps_then_get_nowait", "pipeline", PIPELINE, pc.check_run_pipeline_late_producer,
     ("read the results with results.get()", "pipeline/gives-up-waiting")),
    # the visible test too (it caught them only by luck of timing: [0, 1] in scripts/determinism.py, forkserver)
    (P, "mut_results_get_nowait", "pipeline", PIPELINE, pc.check_run_pipeline,
     ("read the results with results.get()", "pipeline/gives-up-waiting")),
    (P, "sleeps_then_get_nowait", "pipeline", PIPELINE, pc.check_run_pipeline,
     ("read the results with results.get()", "pipeline/gives-up-waiting")),
    (P, "alt_polls_instead_of_blocking", "pipeline", PIPELINE, pc.check_run_pipeline, None),
    (P, "alt_polls_instead_of_blocking", "pipeline", PIPELINE, pc.check_run_pipeline_late_producer, None),
    (P, "mut_returns_before_joining_consumers", "pipeline", PIPELINE, pc.check_run_pipeline,
     ("join every producer and consumer before returning", "pipeline/left-running")),
    (P, "mut_returns_before_joining_consumers", "pipeline", PIPELINE, pc.check_run_pipeline_busy_consumers,
     ("still running after", "pipeline/left-running")),
    (P, "reference", "pipeline", ("producer",), pc.check_producer, None),
    (P, "sentinel_per_producer", "pipeline", ("producer",), pc.check_producer,
     ("only its own items", "pipeline/producer-puts-sentinel")),
    (P, "producer_reversed", "pipeline", ("producer",), pc.check_producer, ("in the order given",
                                                                            "pipeline/producer-order")),
    (P, "producer_drops_when_full", "pipeline", ("producer",), pc.check_producer,
     ("while the queue was full", "pipeline/producer-drops-items")),
    (P, "reference", "pipeline", ("consumer",), pc.check_consumer, None),
    (P, "stops_on_get_nowait", "pipeline", ("consumer",), pc.check_consumer, ("get_nowait()",
                                                                              "pipeline/stops-when-empty")),
    (P, "stops_at_falsy_item", "pipeline", ("consumer",), pc.check_consumer, ("`item is None`",
                                                                              "pipeline/stops-at-falsy-item")),
    (P, "consumer_ignores_sentinel", "pipeline", ("consumer",), pc.check_consumer,
     ("did not return", "pipeline/consumer-ignores-sentinel")),
    (P, "consumer_transforms_sentinel", "pipeline", ("consumer",), pc.check_consumer,
     ("transform(None)", "pipeline/transform-on-sentinel")),
    (P, "reference", "joinable_pipeline", ("run_joinable",), pc.check_run_joinable, None),
    (P, "lambda_targets", "joinable_pipeline", ("run_joinable",), pc.check_run_joinable_idle_consumers, None),
    (P, "pipes_and_process_subclass", "joinable_pipeline", ("run_joinable",), pc.check_run_joinable, None),
    (P, "one_sentinel_no_task_done", "joinable_pipeline", ("run_joinable",), pc.check_run_joinable,
     ("task_done()", "joinable/no-task-done")),
    (P, "joins_before_reading_or_stopping", "joinable_pipeline", ("run_joinable",), pc.check_run_joinable,
     ("loops for ever", "joinable/joins-running-consumers")),
    (P, "sentinels_and_task_done_too_early", "joinable_pipeline", ("run_joinable",), pc.check_run_joinable,
     ("before every item was transformed", "joinable/returned-early")),
    (P, "joinable_leaks_new_session", "joinable_pipeline", ("run_joinable",), pc.check_run_joinable,
     ("1 process of yours was still running", "joinable/left-running")),
    (P, "unbounded_queue_non_daemons", "joinable_pipeline", ("run_joinable",), pc.check_run_joinable,
     ("still running", "joinable/left-running")),
    (P, "too_few_consumers", "joinable_pipeline", ("run_joinable",), pc.check_run_joinable_idle_consumers,
     ("even when there are fewer items", "joinable/consumer-count")),
    (P, "mut_joinable_not_daemon", "joinable_pipeline", ("run_joinable",), pc.check_run_joinable,
     ("not daemon processes", "joinable/not-daemon")),
    (P, "alt_polls_instead_of_blocking", "joinable_pipeline", ("run_joinable",), pc.check_run_joinable, None),
    (P, "alt_polls_instead_of_blocking", "joinable_pipeline", ("run_joinable",),
     pc.check_run_joinable_idle_consumers, None),
    (P, "mut_joinable_get_nowait_after_join", "joinable_pipeline", ("run_joinable",), pc.check_run_joinable,
     ("may still be in flight", "joinable/gives-up-waiting")),
    (P, "mut_joinable_get_nowait_after_join", "joinable_pipeline", ("run_joinable",),
     pc.check_run_joinable_idle_consumers, ("which waits, not get_nowait()", "joinable/gives-up-waiting")),
    (P, "mut_joinable_get_timeout", "joinable_pipeline", ("run_joinable",), pc.check_run_joinable_idle_consumers,
     ("keep waiting with a plain q.get()", "joinable/consumer-gives-up")),
    (P, "mut_joinable_not_daemon", "joinable_pipeline", ("run_joinable",), pc.check_run_joinable_idle_consumers,
     ("not daemon processes", "joinable/not-daemon")),
    (P, "joinable_get_timeout_slow_caller", "joinable_pipeline", ("run_joinable",), pc.check_run_joinable,
     ("keep waiting with a plain q.get()", "joinable/consumer-gives-up")),
    (P, "joinable_get_timeout_slow_caller", "joinable_pipeline", ("run_joinable",),
     pc.check_run_joinable_idle_consumers, ("keep waiting with a plain q.get()", "joinable/consumer-gives-up")),
    (S, "reference", "framing", ("send_msg", "recv_msg"), sk.check_framing, None),
    (S, "send_loop_lambda_target_deadline", "framing", ("send_msg", "recv_msg"), sk.check_framing, None),
    (S, "little_endian_serial_no_timeout", "framing", ("send_msg", "recv_msg"), sk.check_framing,
     ("little-endian", "framing/little-endian")),
    (S, "recv_n_in_parent_no_retry", "framing", ("send_msg", "recv_msg"), sk.check_framing,
     ("one byte at a time", "framing/short-read")),
    (S, "waitall_threads_small_buffer", "framing", ("send_msg", "recv_msg"), sk.check_framing,
     ("at least 1 byte", "framing/short-read")),
    (S, "empty_is_none_accepts_extra_burst", "framing", ("send_msg", "recv_msg"), sk.check_framing,
     ("empty message", "framing/empty-message")),
    (S, "recv_raises_on_close", "framing", ("recv_msg",), sk.check_recv_msg_close,
     ("return None", "framing/close-not-none")),
    (S, "send_not_sendall_no_join", "framing", ("send_msg",), sk.check_send_msg_wire_format,
     ("sendall", "framing/partial-send")),
    (S, "makefile_sentinels_selector", "framing", ("recv_msg",), sk.check_recv_msg_segments, None),
    (S, "reads_ahead_joins_some_off_by_one", "framing", ("recv_msg",), sk.check_recv_msg_segments,
     ("TCP keeps no boundaries", "framing/reads-past-message")),
    (S, "mut_recv_asks_for_too_much", "framing", ("recv_msg",), sk.check_recv_msg_segments,
     ("TCP keeps no boundaries", "framing/reads-past-message")),
    (S, "reference", "framing", ("recv_msg",), sk.check_recv_msg_segments, None),
    (S, "payload_once_keeps_all_conns", "framing", ("recv_msg",), sk.check_recv_msg_segments,
     ("keep calling recv", "framing/big-message")),
    (S, "spin_on_empty_bytes", "framing", ("recv_msg",), sk.check_recv_msg_close,
     ("returns b'' at once and for ever", "framing/spins-on-close")),
    (S, "truncated_message_returned", "framing", ("recv_msg",), sk.check_recv_msg_close,
     ("raise ConnectionError", "framing/cut-not-error")),
    (S, "reference", "serve", ("serve",), sk.check_serve_concurrently, None),
    (S, "alt_recv_into_subclass_connect", "serve", ("serve",), sk.check_serve_waits_for_every_handler, None),
    (S, "makefile_sentinels_selector", "serve", ("serve",), sk.check_serve_concurrently, None),
    (S, "little_endian_serial_no_timeout", "serve", ("serve",), sk.check_serve_concurrently,
     ("one at a time", "serve/one-at-a-time")),
    (S, "recv_n_in_parent_no_retry", "serve", ("serve",), sk.check_serve_concurrently,
     ("inside its own process", "serve/handler-in-parent")),
    (S, "single_recv_keeps_conn_retries_forever", "serve", ("serve",), sk.check_serve_concurrently,
     ("saw no EOF", "serve/keeps-connection")),
    (S, "send_not_sendall_no_join", "serve", ("serve",), sk.check_serve_concurrently,
     ("join every handler", "serve/no-wait")),
    (S, "reads_ahead_joins_some_off_by_one", "serve", ("serve",), sk.check_serve_waits_for_every_handler,
     ("was still running", "serve/no-wait")),
    (S, "empty_is_none_accepts_extra_burst", "serve", ("serve",), sk.check_serve_waits_for_every_handler,
     ("accept exactly n_clients", "serve/hangs")),
    (S, "reference", "udp_request", ("udp_request",), sk.check_udp_request_retries, None),
    (S, "makefile_sentinels_selector", "udp_request", ("udp_request",), sk.check_udp_request_losses, None),
    (S, "send_loop_lambda_target_deadline", "udp_request", ("udp_request",), sk.check_udp_request_losses, None),
    (S, "little_endian_serial_no_timeout", "udp_request", ("udp_request",), sk.check_udp_request_retries,
     ("waited for ever", "udp_request/no-timeout")),
    (S, "recv_n_in_parent_no_retry", "udp_request", ("udp_request",), sk.check_udp_request_retries,
     ("gave up", "udp_request/no-retry")),
    (S, "empty_is_none_accepts_extra_burst", "udp_request", ("udp_request",), sk.check_udp_request_retries,
     ("before each resend", "udp_request/resends-too-soon")),
    (S, "udp_returns_tuple", "udp_request", ("udp_request",), sk.check_udp_request_retries,
     ("not the address", "udp_request/wrong-reply")),
    (S, "waitall_threads_small_buffer", "udp_request", ("udp_request",), sk.check_udp_request_losses,
     ("recvfrom(65535)", "udp_request/truncated-reply")),
    (S, "single_recv_keeps_conn_retries_forever", "udp_request", ("udp_request",), sk.check_udp_request_losses,
     ("3 times in all", "udp_request/retries-forever")),
    (S, "reads_ahead_joins_some_off_by_one", "udp_request", ("udp_request",), sk.check_udp_request_losses,
     ("allows 3 tries", "udp_request/too-few-tries")),
    # mistakes no corpus file shows: one inline answer each (tests/test_mistake_ids.py keeps this complete)
    (S, "framing_not_written", "framing", ("send_msg", "recv_msg"), sk.check_framing,
     ("is not written yet", "answer/not-written")),
    (S, "send_encodes_bytes", "framing", ("send_msg",), sk.check_send_msg_wire_format,
     ("raised AttributeError", "framing/send-raised")),
    (S, "send_loop_off_by_one", "framing", ("send_msg",), sk.check_send_msg_wire_format,
     ("did not return within 5 s", "framing/send-hangs")),
    (S, "recv_peeks_for_whole_message", "framing", ("send_msg", "recv_msg"), sk.check_framing,
     ("did not return b'hello' within 2 s", "framing/hangs")),
    (S, "recv_little_endian_length", "framing", ("recv_msg",), sk.check_recv_msg_close,
     ("read all of it and still waited for more", "framing/waits-for-more")),
    (S, "serve_hands_over_accept_pair", "serve", ("serve",), sk.check_serve_concurrently,
     ("pass it the accepted connection", "serve/handler-error")),
    (S, "serve_args_not_a_tuple", "serve", ("serve",), sk.check_serve_concurrently,
     ("raised TypeError", "serve/raised")),
    (S, "serve_never_starts", "serve", ("serve",), sk.check_serve_concurrently,
     ("never ran the handler", "serve/no-handler")),
    (S, "serve_one_short_no_join", "serve", ("serve",), sk.check_serve_concurrently,
     ("returned after starting 2 of 3 handlers", "serve/too-few-handlers")),
    (S, "serve_same_connection_to_all", "serve", ("serve",), sk.check_serve_concurrently,
     ("several handlers were given the same connection", "serve/wrong-connection")),
    (S, "serve_shuts_down_connection", "serve", ("serve",), sk.check_serve_concurrently,
     ("got no reply from its handler", "serve/wrong-connection")),
    (S, "serve_leaves_logger_running", "serve", ("serve",), sk.check_serve_concurrently,
     ("1 process(es) of yours were still running", "serve/left-running")),
    (S, "udp_frames_payload", "udp_request", ("udp_request",), sk.check_udp_request_retries,
     ("not the payload", "udp_request/wrong-payload")),
    (S, "udp_closes_after_first_try", "udp_request", ("udp_request",), sk.check_udp_request_retries,
     ("raised OSError", "udp_request/raised")),
    (S, "udp_reads_until_close", "udp_request", ("udp_request",), sk.check_udp_request_retries,
     ("did not return the reply to its datagram 2", "udp_request/hangs")),
    (S, "udp_returns_none", "udp_request", ("udp_request",), sk.check_udp_request_losses,
     ("returned None: raise TimeoutError", "udp_request/no-timeout-error")),
    (S, "udp_waits_too_little_in_all", "udp_request", ("udp_request",), sk.check_udp_request_losses,
     ("expected about timeout * (retries + 1)", "udp_request/wrong-wait")),
    (S, "udp_reads_in_pieces", "udp_request", ("udp_request",), sk.check_udp_request_losses,
     ("although the server answered its first datagram", "udp_request/big-reply-lost")),
    (P, "consumer_calls_task_done", "pipeline", ("consumer",), pc.check_consumer,
     ("raised AttributeError", "pipeline/consumer-raised")),
    (P, "joinable_gives_up_after_a_while", "joinable_pipeline", ("run_joinable",), pc.check_run_joinable,
     ("keep waiting with a plain q.get()", "joinable/consumer-gives-up")),
    (P, "joinable_polls_and_keeps_waiting", "joinable_pipeline", ("run_joinable",), pc.check_run_joinable, None),
    (P, "consumer_reads_results", "pipeline", ("consumer",), pc.check_consumer,
     ("never asked the queue q for an item", "pipeline/consumer-never-gets")),
    (P, "producer_skips_last_item", "pipeline", ("producer",), pc.check_producer,
     ("put each item of `items`, in order", "pipeline/producer-wrong-items")),
    (P, "consumer_waits_for_producers", "pipeline", ("consumer",), pc.check_consumer,
     ("never asked the queue q for an item", "pipeline/consumer-never-gets")),
    (P, "consumer_puts_one_list", "pipeline", ("consumer",), pc.check_consumer,
     ("put [[0, 10, 20]] on results", "pipeline/consumer-wrong-results")),
    (P, "producer_joins_queue", "pipeline", ("producer",), pc.check_producer,
     ("raised AttributeError", "pipeline/producer-raised")),
    (P, "producer_sleeps_before_returning", "pipeline", ("producer",), pc.check_producer,
     ("did not return after its items were taken", "pipeline/producer-hangs")),
    (P, "producer_overlapping_pairs", "pipeline", ("producer",), pc.check_producer,
     ("put each item of `items`, in order, and nothing else", "pipeline/producer-wrong-items")),
    (P, "pipeline_assumes_equal_batches", "pipeline", PIPELINE, pc.check_run_pipeline,
     ("did not finish, and 7 of 7 items were transformed", "pipeline/hangs")),
    (P, "pipeline_joins_plain_queue", "pipeline", PIPELINE, pc.check_run_pipeline,
     ("raised AttributeError", "pipeline/raised")),
    (P, "consumer_makes_up_zero", "pipeline", PIPELINE, pc.check_run_pipeline,
     ("transform was never called for item 0", "pipeline/transform-skipped")),
    (P, "joinable_never_started", "joinable_pipeline", ("run_joinable",), pc.check_run_joinable,
     ("did not finish, and 0 of 6 items were transformed", "joinable/hangs")),
    (P, "joinable_join_timeout", "joinable_pipeline", ("run_joinable",), pc.check_run_joinable,
     ("raised TypeError", "joinable/raised")),
    (P, "joinable_threads", "joinable_pipeline", ("run_joinable",), pc.check_run_joinable,
     ("the caller called transform itself", "joinable/no-consumer-process")),
    (P, "joinable_makes_up_zero_debug_line", "joinable_pipeline", ("run_joinable",), pc.check_run_joinable,
     ("transform was never called for item 0", "joinable/transform-skipped")),
]


@pytest.mark.parametrize(("index", "case"), list(enumerate(CASES)),
                         ids=[f"{c[1]}-{c[4].__name__}" for c in CASES])
def test_check(index, case):
    assignment, student, gid, names, check_fn, failure = case
    phrase, mistake = failure or (None, None)
    method = os.environ.get("MPCOURSE_DIRECT_START_METHOD") or START_METHODS[index % len(START_METHODS)]
    expect_verdict(check_fn, _answer(assignment, student, gid, names), phrase, method, mistake=mistake)


@pytest.mark.parametrize("start_method", START_METHODS)
def test_a_consumer_left_unjoined_is_caught_under_every_start_method(start_method):
    """Joining every consumer but the first (a mutant that escaped): each consumer is held at its end until the
    caller waits for that very process (os.waitpid, which join() uses under fork and spawn), so the first is
    still running when the call returns, every run. Under forkserver join() waits on a pipe, which the judge
    cannot tell apart: there all are let go together once the caller waits, and the first ends unjoined; its
    exit status is then still unread in the caller's pipe at the return (it passed there before)."""
    reference = sections(CORPUS / P / "reference.py")["pipeline"]
    assert "    for c in consumers:\n        c.join()" in reference
    namespace = define(reference.replace("    for c in consumers:\n        c.join()",
                                         "    for c in consumers[1:]:\n        c.join()"))
    answer = tuple(namespace[name] for name in PIPELINE)
    phrase, mistake = (("never joined", "pipeline/not-joined") if start_method == "forkserver" else
                       ("still running after", "pipeline/left-running"))
    for _ in range(2):
        expect_verdict(pc.check_run_pipeline, answer, phrase, start_method, mistake=mistake)


@pytest.mark.parametrize("start_method", START_METHODS)
@pytest.mark.parametrize(("student", "gid", "names", "check_fn", "phrase", "mistake"), [
    ("hostile_consumers_skip_exit_hooks", "pipeline", PIPELINE, pc.check_run_pipeline, "never joined",
     "pipeline/not-joined"),
    ("hostile_consumers_skip_exit_hooks", "pipeline", PIPELINE, pc.check_run_pipeline_busy_consumers,
     "join every producer and consumer", "pipeline/not-joined"),
    ("mut_joinable_terminate_without_join", "joinable_pipeline", ("run_joinable",), pc.check_run_joinable,
     "terminate() only asks a process to end", "joinable/not-joined"),
    ("mut_joinable_terminate_without_join", "joinable_pipeline", ("run_joinable",),
     pc.check_run_joinable_idle_consumers, "join every consumer after stopping it", "joinable/not-joined"),
])
def test_a_process_never_joined_is_caught(start_method, student, gid, names, check_fn, phrase, mistake):
    """Consumers that end without the judge's exit hold (os._exit, or a SIGTERM from terminate()) and are never
    joined: both passed every run while only processes still alive after the return were looked for. A process
    nobody waited for stays a zombie of the caller (fork, spawn), or its exit status stays unread in the caller's
    pipe (forkserver, whose server reaps it), so the judge sees the missing join itself, not whether the
    consumers happened to be slow."""
    expect_verdict(check_fn, _answer(P, student, gid, names), phrase, start_method, mistake=mistake)


def test_a_slow_look_at_the_processes_never_fails_a_correct_joinable(monkeypatch):
    """Under load one look at the OS can outlast the workers' start: a stale look must never decide.

    Every fourth look is held back 0.8 s after it was taken, so workers start and take
    their items meanwhile. Judged from such a look, the reference was refused with
    "only 0 processes of yours ran" in 5 of 12 runs under forkserver (as once in CI).
    """
    import time

    import mpcourse.judge

    looks = [0]
    real = mpcourse.judge.Judge.processes

    def slow_look(self):
        found = real(self)
        looks[0] += 1
        if looks[0] % 4 == 0:
            time.sleep(0.8)
        return found

    monkeypatch.setattr(mpcourse.judge.Judge, "processes", slow_look)
    answer = _answer(P, "reference", "joinable_pipeline", ("run_joinable",))
    for _ in range(6):
        expect_verdict(pc.check_run_joinable_idle_consumers, answer, None, "forkserver")


def test_resend_gaps_are_measured_when_datagrams_arrive_not_when_the_judge_reads_them():
    """A judge starved of CPU read two resends back to back and failed a correct udp_request ('0.00 s')."""
    import socket
    import time

    from mpcourse.checks.sockets import _arrival, _stamp_arrivals

    server, client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM), socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        server.bind(("127.0.0.1", 0))
        assert _stamp_arrivals(server)
        client.sendto(b"ping", server.getsockname())
        time.sleep(0.3)
        client.sendto(b"ping", server.getsockname())
        time.sleep(0.5)                                   # the judge is late to read both
        times = [_arrival(server.recvmsg(64, 64)[1]) for _ in range(2)]
    finally:
        server.close()
        client.close()
    assert 0.25 < times[1] - times[0] < 0.45
    assert time.perf_counter() - times[1] > 0.4


def test_a_checker_slow_to_answer_never_fails_a_correct_udp_request(monkeypatch):
    """Under load the checker's reply to the third datagram left after the student's 0.3 s timeout, and
    a correct udp_request was refused ("sent 3 datagram(s) and raised TimeoutError", once in CI).

    The checker's first reply to a ping is held back 0.5 s: that exchange is the checker's fault and
    runs again; the answer passes.
    """
    import time

    import mpcourse.checks.sockets

    real, held = mpcourse.checks.sockets._reply_for, []

    def slow_reply(payload: bytes, size: int) -> bytes:
        if payload == b"ping" and not held:
            held.append(payload)
            time.sleep(0.5)
        return real(payload, size)

    monkeypatch.setattr(mpcourse.checks.sockets, "_reply_for", slow_reply)
    expect_verdict(sk.check_udp_request_losses, _answer(S, "reference", "udp_request", ("udp_request",)), None, "fork")
    assert held
