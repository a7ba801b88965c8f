# expect: pipe_worker=zero count_words=zero add_all=partial
# why: pipe_worker answers with send_bytes(s.upper().encode()), raw bytes the parent's recv() cannot read as a string; count_words guards each Manager dict update with a new Lock made on the spot, which protects nothing; add_all waits at most a second for the lock and then adds without it
# mistake: pipe_worker/wrong-answer count_words/unlocked-update add_all/gives-up-waiting
# %% pipe_worker
def pipe_worker(conn):
    while (s := conn.recv()) is not None:
        conn.send_bytes(s.upper().encode())
    conn.close()

# %% count_words
import multiprocessing


def _update(chunk, tokenize, shared):
    for line in chunk:
        for w in tokenize(line):
            with multiprocessing.Lock():          # a new lock per update: nobody else waits for it
                shared[w] = shared.get(w, 0) + 1


def count_words(lines, n_workers, tokenize):
    with multiprocessing.Manager() as manager:
        shared = manager.dict()
        procs = [multiprocessing.Process(target=_update, args=(lines[i::n_workers], tokenize, shared))
                 for i in range(n_workers)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        return dict(shared)

# %% add_all
def add_all(total, numbers):
    lock = total.get_lock()
    for n in numbers:
        got = lock.acquire(timeout=1)
        total.value += n                     # with or without the lock
        if got:
            lock.release()
