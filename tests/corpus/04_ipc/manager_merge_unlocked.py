# expect: count_words=fail
# why: each worker counts locally (good) but merges into a Manager dict with `+=` and no lock
# mistake: count_words/unlocked-update
# %% count_words
import multiprocessing
from collections import Counter


def worker(chunk, shared, tokenize):
    local = Counter()
    for line in chunk:
        local.update(tokenize(line))
    for w, c in local.items():
        if w in shared:
            shared[w] += c
        else:
            shared[w] = c


def count_words(lines, n_workers, tokenize):
    manager = multiprocessing.Manager()
    shared = manager.dict()
    procs = [multiprocessing.Process(target=worker, args=(lines[i::n_workers], shared, tokenize))
             for i in range(n_workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    result = dict(shared)
    manager.shutdown()
    return result
