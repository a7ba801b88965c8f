# expect: count_words=zero
# why: one child does all the work whatever n_workers is
# mistake: count_words/one-worker
# %% count_words
import multiprocessing
from collections import Counter


def work(lines, tokenize, out):
    out.put(Counter(w for line in lines for w in tokenize(line)))


def count_words(lines, n_workers, tokenize):
    out = multiprocessing.Queue()
    p = multiprocessing.Process(target=work, args=(lines, tokenize, out))
    p.start()
    result = out.get()
    p.join()
    return dict(result)
