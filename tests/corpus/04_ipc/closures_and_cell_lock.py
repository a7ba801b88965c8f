# why: correct but unusual: pipe_worker made by a closure factory; count_words with a cell-level LOCK = multiprocessing.Lock() that the workers share (it travels to them by value) around a Manager dict; add_all takes total.get_lock() (an RLock, as with multiprocessing.Value) again inside a helper
# %% pipe_worker
def make_worker(transform):
    def worker(conn):
        with conn:
            for s in iter(conn.recv, None):
                conn.send(transform(s))
    return worker


pipe_worker = make_worker(str.upper)

# %% count_words
import multiprocessing

LOCK = multiprocessing.Lock()


def _tally(chunk, tokenize, shared):
    for line in chunk:
        for w in tokenize(line):
            with LOCK:
                shared[w] = shared.get(w, 0) + 1


def count_words(lines, n_workers, tokenize):
    with multiprocessing.Manager() as manager:
        shared = manager.dict()
        size = -(-len(lines) // n_workers)
        procs = [multiprocessing.Process(target=_tally, args=(lines[i:i + size], tokenize, shared))
                 for i in range(0, len(lines), size)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        return dict(shared)

# %% add_all
def _add_one(total, n):
    with total.get_lock():
        total.value += n


def add_all(total, numbers):
    with total.get_lock():
        for n in numbers:
            _add_one(total, n)
