# why: another correct style: `with conn:` and a walrus loop; Process + Queue with partial Counters merged in the caller; one lock around the whole sum
# %% pipe_worker
def pipe_worker(conn):
    with conn:
        while (s := conn.recv()) is not None:
            conn.send(s.upper())

# %% count_words
import multiprocessing
from collections import Counter


def _count_chunk(chunk, tokenize, out):
    c = Counter()
    for line in chunk:
        c.update(tokenize(line))
    out.put(c)


def count_words(lines, n_workers, tokenize):
    n = max(1, min(n_workers, len(lines)))
    out = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=_count_chunk, args=(lines[i::n], tokenize, out)) for i in range(n)]
    for p in procs:
        p.start()
    total = Counter()
    for _ in procs:
        total += out.get()
    for p in procs:
        p.join()
    return dict(total)

# %% add_all
def add_all(total, numbers):
    lock = total.get_lock()
    lock.acquire()
    try:
        total.value = total.value + sum(numbers)
    finally:
        lock.release()
