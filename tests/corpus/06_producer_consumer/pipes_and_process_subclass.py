# expect: pipeline=pass joinable_pipeline=pass
# why: correct, another IPC route and structure: each consumer sends its results down a Pipe of its own while a thread of the caller puts the sentinels once the producers are joined; joinable consumers as a Process subclass (daemon in __init__) with a cell-level Lock, stopped by terminate()
# %% pipeline
import multiprocessing
import threading
from multiprocessing.connection import wait


def producer(q, items):
    for item in items:
        q.put(item)


def consumer(q, results, transform):
    while True:
        item = q.get()
        if item is None:
            return
        results.put(transform(item))


class Outbox:
    """One consumer's end of a pipe, with the put() a results queue has."""

    def __init__(self, conn):
        self.conn = conn

    def put(self, value):
        self.conn.send(value)


def _consume(q, conn, transform):
    consumer(q, Outbox(conn), transform)
    conn.close()                   # EOF on the reading end: this consumer is done


def run_pipeline(batches, n_consumers, transform, maxsize):
    q = multiprocessing.Queue(maxsize)
    readers, consumers = [], []
    for _ in range(n_consumers):
        reader, writer = multiprocessing.Pipe(duplex=False)
        consumers.append(multiprocessing.Process(target=_consume, args=(q, writer, transform)))
        readers.append((reader, writer))
    producers = [multiprocessing.Process(target=producer, args=(q, b)) for b in batches]
    for p in consumers + producers:
        p.start()
    for _reader, writer in readers:
        writer.close()             # only the consumer keeps a write end

    def stop_consumers():
        for p in producers:
            p.join()
        for _ in consumers:
            q.put(None)

    stopper = threading.Thread(target=stop_consumers)
    stopper.start()
    out, open_ends = [], [reader for reader, _writer in readers]
    while open_ends:
        for conn in wait(open_ends):
            try:
                out.append(conn.recv())
            except EOFError:
                open_ends.remove(conn)
    stopper.join()
    for c in consumers:
        c.join()
    return out

# %% joinable_pipeline
import multiprocessing

RESULTS_LOCK = multiprocessing.Lock()


class Consumer(multiprocessing.Process):
    def __init__(self, q, results, transform):
        super().__init__(daemon=True)
        self.q, self.results, self.transform = q, results, transform

    def run(self):
        while True:
            item = self.q.get()
            try:
                value = self.transform(item)
                with RESULTS_LOCK:
                    self.results.put(value)
            finally:
                self.q.task_done()


def run_joinable(items, n_consumers, transform):
    q, results = multiprocessing.JoinableQueue(), multiprocessing.Queue()
    workers = [Consumer(q, results, transform) for _ in range(n_consumers)]
    for w in workers:
        w.start()
    n = 0
    for item in items:
        q.put(item)
        n += 1
    q.join()
    out = [results.get() for _ in range(n)]
    for w in workers:
        w.terminate()
    for w in workers:
        w.join()
    return out
