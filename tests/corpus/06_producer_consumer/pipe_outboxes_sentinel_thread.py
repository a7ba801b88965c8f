# expect: pipeline=pass
# why: correct, another IPC route: each consumer sends its results down a Pipe of its own; a thread of the caller puts the sentinels once the producers are joined, while the caller reads
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
