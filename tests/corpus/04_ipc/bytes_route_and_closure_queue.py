# why: correct but unusual: pipe_worker speaks recv_bytes/send_bytes with pickle itself; count_words starts closures that capture the result Queue and tokenize, fed by a Pool-free chunking; add_all enters total.get_lock() through a contextlib.ExitStack
# %% pipe_worker
import pickle


def pipe_worker(conn):
    try:
        while True:
            s = pickle.loads(conn.recv_bytes())
            if s is None:
                return
            conn.send_bytes(pickle.dumps(s.upper()))
    finally:
        conn.close()

# %% count_words
import multiprocessing
from collections import Counter


def count_words(lines, n_workers, tokenize):
    out = multiprocessing.Queue()

    def work(chunk):
        out.put(Counter(w for line in chunk for w in tokenize(line)))

    chunks = [lines[i::n_workers] for i in range(n_workers)]
    procs = [multiprocessing.Process(target=work, args=(chunk,)) for chunk in chunks if chunk]
    for p in procs:
        p.start()
    counts = sum((out.get() for _ in procs), Counter())
    for p in procs:
        p.join()
    return dict(counts)

# %% add_all
import contextlib


def add_all(total, numbers):
    for n in numbers:
        with contextlib.ExitStack() as stack:
            stack.enter_context(total.get_lock())
            total.value += n
