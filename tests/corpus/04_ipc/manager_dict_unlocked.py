# expect: count_words=fail
# why: a Manager dict updated with get-then-set and no lock: two workers read a count before either writes it back
# mistake: count_words/unlocked-update
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
