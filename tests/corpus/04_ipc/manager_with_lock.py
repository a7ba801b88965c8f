# why: a correct Manager route: a shared dict updated under a Manager lock by workers that take lines from a queue; a Pipe answered message by message; the lock held around the whole loop
# %% pipe_worker
def pipe_worker(conn):
    try:
        for s in iter(conn.recv, None):
            conn.send(s.upper())
    finally:
        conn.close()

# %% count_words
import multiprocessing


def worker(todo, shared, lock, tokenize):
    while True:
        line = todo.get()
        if line is None:
            return
        for w in tokenize(line):
            with lock:
                shared[w] = shared.get(w, 0) + 1


def count_words(lines, n_workers, tokenize):
    with multiprocessing.Manager() as m:
        shared, lock = m.dict(), m.Lock()
        todo = multiprocessing.Queue()
        for line in lines:
            todo.put(line)
        for _ in range(n_workers):
            todo.put(None)
        procs = [multiprocessing.Process(target=worker, args=(todo, shared, lock, tokenize))
                 for _ in range(n_workers)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        return dict(shared)

# %% add_all
def add_all(total, numbers):
    with total.get_lock():
        for n in numbers:
            total.value += n
