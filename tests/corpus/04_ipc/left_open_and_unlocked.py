# expect: pipe_worker=fail count_words=fail add_all=fail
# why: pipe_worker: pipe_worker returns without closing conn: the parent never sees EOF while the process lives; count_words: a Manager dict updated with get-then-set and no lock: two workers read a count before either writes it back; add_all: `total.value += n` without the lock: a read and then a write, another process writes in between
# mistake: pipe_worker/left-open count_words/unlocked-update add_all/no-lock
# %% pipe_worker
def pipe_worker(conn):
    while True:
        s = conn.recv()
        if s is None:
            return
        conn.send(s.upper())

# %% count_words
import multiprocessing


def worker(chunk, shared, tokenize):
    for line in chunk:
        for w in tokenize(line):
            shared[w] = shared.get(w, 0) + 1


def count_words(lines, n_workers, tokenize):
    with multiprocessing.Manager() as m:
        shared = m.dict()
        size = -(-len(lines) // n_workers)
        procs = [multiprocessing.Process(target=worker, args=(lines[i:i + size], shared, tokenize))
                 for i in range(0, len(lines), size)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        return dict(shared)

# %% add_all
def add_all(total, numbers):
    for n in numbers:
        total.value += n
