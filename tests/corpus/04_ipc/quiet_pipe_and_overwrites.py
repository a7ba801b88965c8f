# expect: pipe_worker=partial count_words=zero add_all=fail
# why: pipe_worker stops when nothing arrives within half a second (poll(0.5)), so a slow parent loses it; count_words merges partial counts with shared.update(local), which overwrites another worker's counts instead of adding; add_all reads under the lock but writes after releasing it
# mistake: pipe_worker/stops-early count_words/wrong-counts add_all/partial-lock
# %% pipe_worker
def pipe_worker(conn):
    while conn.poll(0.5):
        s = conn.recv()
        if s is None:
            break
        conn.send(s.upper())
    conn.close()

# %% count_words
import multiprocessing
from collections import Counter


def _merge(chunk, tokenize, shared):
    local = Counter()
    for line in chunk:
        local.update(tokenize(line))
    shared.update(local)             # replaces the counts, it does not add to them


def count_words(lines, n_workers, tokenize):
    with multiprocessing.Manager() as manager:
        shared = manager.dict()
        procs = [multiprocessing.Process(target=_merge, args=(lines[i::n_workers], tokenize, shared))
                 for i in range(n_workers)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        return dict(shared)

# %% add_all
def add_all(total, numbers):
    for n in numbers:
        lock = total.get_lock()
        lock.acquire()
        current = total.value
        lock.release()
        total.value = current + n
