# expect: pipe_worker=zero count_words=zero add_all=zero
# why: pipe_worker collects every string and answers only after None (the parent waits for each answer in turn); count_words starts one process per line, more than n_workers at once; add_all gives up on a number whenever the lock is busy (acquire(False))
# mistake: pipe_worker/no-answer count_words/too-many-processes add_all/gives-up-waiting
# %% pipe_worker
def pipe_worker(conn):
    received = []
    while (s := conn.recv()) is not None:
        received.append(s)
    for s in received:
        conn.send(s.upper())
    conn.close()

# %% count_words
import multiprocessing
from collections import Counter


def _count_line(line, tokenize, out):
    out.put(Counter(tokenize(line)))


def count_words(lines, n_workers, tokenize):
    out = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=_count_line, args=(line, tokenize, out)) for line in lines]
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
    for n in numbers:
        if lock.acquire(False):          # busy? then skip this number
            try:
                total.value += n
            finally:
                lock.release()
