# expect: pipe_worker=zero count_words=zero
# why: pipe_worker answers None with a goodbye message before closing (the parent reads it as one more answer); count_words returns the Manager's dict proxy itself, which dies with the manager when the with-block ends
# mistake: pipe_worker/sent-after-none count_words/not-a-dict
# %% pipe_worker
def pipe_worker(conn):
    while True:
        s = conn.recv()
        if s is None:
            conn.send("bye")
            break
        conn.send(s.upper())
    conn.close()

# %% count_words
import multiprocessing


def _count(chunk, tokenize, shared, lock):
    for line in chunk:
        for w in tokenize(line):
            with lock:
                shared[w] = shared.get(w, 0) + 1


def count_words(lines, n_workers, tokenize):
    with multiprocessing.Manager() as manager:
        shared, lock = manager.dict(), manager.Lock()
        procs = [multiprocessing.Process(target=_count, args=(lines[i::n_workers], tokenize, shared, lock))
                 for i in range(n_workers)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
    return shared                    # the manager is gone: so is the dict
