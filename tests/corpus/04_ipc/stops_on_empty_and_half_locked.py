# expect: pipe_worker=fail count_words=fail add_all=fail
# why: pipe_worker: `if not s` stops at the empty string: only None means stop; count_words: each worker counts locally (good) but merges into a Manager dict with `+=` and no lock; add_all: reads total.value before taking the lock, writes under it
# mistake: pipe_worker/stops-on-empty count_words/unlocked-update add_all/partial-lock
# %% pipe_worker
def pipe_worker(conn):
    while True:
        s = conn.recv()
        if not s:
            break
        conn.send(s.upper())
    conn.close()

# %% count_words
import multiprocessing
from collections import Counter


def worker(chunk, shared, tokenize):
    local = Counter()
    for line in chunk:
        local.update(tokenize(line))
    for w, c in local.items():
        if w in shared:
            shared[w] += c
        else:
            shared[w] = c


def count_words(lines, n_workers, tokenize):
    manager = multiprocessing.Manager()
    shared = manager.dict()
    procs = [multiprocessing.Process(target=worker, args=(lines[i::n_workers], shared, tokenize))
             for i in range(n_workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    result = dict(shared)
    manager.shutdown()
    return result

# %% add_all
def add_all(total, numbers):
    for n in numbers:
        current = total.value
        with total.get_lock():
            total.value = current + n
