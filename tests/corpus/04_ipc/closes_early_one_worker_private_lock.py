# expect: pipe_worker=zero count_words=zero add_all=fail
# why: pipe_worker: answers one string only, then closes and returns; count_words: one child does all the work whatever n_workers is; add_all: a new Lock per call protects nothing
# mistake: pipe_worker/stops-early count_words/one-worker add_all/no-lock
# %% pipe_worker
def pipe_worker(conn):
    s = conn.recv()
    conn.send(s.upper())
    conn.close()

# %% count_words
import multiprocessing
from collections import Counter


def work(lines, tokenize, out):
    out.put(Counter(w for line in lines for w in tokenize(line)))


def count_words(lines, n_workers, tokenize):
    out = multiprocessing.Queue()
    p = multiprocessing.Process(target=work, args=(lines, tokenize, out))
    p.start()
    result = out.get()
    p.join()
    return dict(result)

# %% add_all
import multiprocessing


def add_all(total, numbers):
    for n in numbers:
        with multiprocessing.Lock():
            total.value += n
