# The model answers of 04_ipc (every exercise must earn full marks).
# %% pipe_worker
def pipe_worker(conn):
    while True:
        s = conn.recv()
        if s is None:
            break
        conn.send(s.upper())
    conn.close()

# %% count_words
import collections
import multiprocessing


def count_words(lines, n_workers, tokenize):
    with multiprocessing.Pool(n_workers) as pool:
        token_lists = pool.map(tokenize, lines, chunksize=1)
    return dict(collections.Counter(w for words in token_lists for w in words))

# %% add_all
def add_all(total, numbers):
    for n in numbers:
        with total.get_lock():
            total.value += n
