# expect: pipe_worker=zero count_words=zero add_all=fail
# why: pipe_worker: `del conn` only drops this name; the connection is closed only when no reference is left, and the caller still holds one, so the parent never sees EOF; count_words: tokenizes in the caller and only counts in the pool: the slow part never leaves the calling process; add_all: one unlocked read-modify-write of the whole sum still races with the other processes
# mistake: pipe_worker/left-open count_words/tokenize-in-caller add_all/no-lock
# %% pipe_worker
def pipe_worker(conn):
    while (s := conn.recv()) is not None:
        conn.send(s.upper())
    del conn

# %% count_words
import multiprocessing
from collections import Counter


def count_words(lines, n_workers, tokenize):
    words = [w for line in lines for w in tokenize(line)]
    with multiprocessing.Pool(n_workers) as pool:
        parts = pool.map(Counter, [words[i::n_workers] for i in range(n_workers)])
    return dict(sum(parts, Counter()))

# %% add_all
def add_all(total, numbers):
    total.value = total.value + sum(numbers)
