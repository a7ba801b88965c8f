# expect: count_words=zero
# why: tokenizes in the caller and only counts in the pool: the slow part never leaves the calling process
# mistake: count_words/tokenize-in-caller
# %% count_words
import multiprocessing
from collections import Counter


def count_words(lines, n_workers, tokenize):
    words = [w for line in lines for w in tokenize(line)]
    with multiprocessing.Pool(n_workers) as pool:
        parts = pool.map(Counter, [words[i::n_workers] for i in range(n_workers)])
    return dict(sum(parts, Counter()))
