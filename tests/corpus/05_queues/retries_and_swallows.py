# expect: drain=partial offer=zero collect=zero
# why: drain tries three times before it believes the queue is empty, so it waits 3 x timeout and takes an item that came too late; offer swallows every exception and always answers True; collect also starts a "monitor" with subprocess.Popen(start_new_session=True) and never waits for it
# mistake: drain/waits-too-long offer/wrong-answer collect/left-running
# %% drain
import queue


def drain(q, timeout):
    items, misses = [], 0
    while misses < 3:
        try:
            items.append(q.get(timeout=timeout))
            misses = 0
        except queue.Empty:
            misses += 1
    return items

# %% offer
def offer(q, item):
    try:
        q.put(item, block=False)
    except Exception:
        pass
    return True

# %% collect
import multiprocessing
import subprocess
import sys


def collect(target, n):
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    q = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=target, args=(q, i)) for i in range(n)]
    for p in procs:
        p.start()
    results = [q.get() for _ in range(n)]
    for p in procs:
        p.join()
    return results
