# expect: joinable_pipeline=fail
# why: (a mistake of the spec's list: terminate() without join()) run_joinable stops its daemon consumers with
#      terminate() and returns without joining them; SIGTERM only asks a process to end, so one may still be
#      running at the return; a timing test sees them gone, but the caller never waited: they are still zombies
#      of the caller when it returns (its exit status unread under forkserver)
# mistake: joinable/not-joined
# %% joinable_pipeline
import multiprocessing


def joinable_consumer(q, results, transform):
    while True:
        item = q.get()
        try:
            results.put(transform(item))
        finally:
            q.task_done()


def run_joinable(items, n_consumers, transform):
    q = multiprocessing.JoinableQueue()
    results = multiprocessing.Queue()
    consumers = [multiprocessing.Process(target=joinable_consumer, args=(q, results, transform), daemon=True)
                 for _ in range(n_consumers)]
    for c in consumers:
        c.start()
    for item in items:
        q.put(item)
    q.join()                       # every item has been task_done()
    out = [results.get() for _ in items]
    for c in consumers:            # a kernel never exits: stop the idle daemons ourselves
        c.terminate()
    return out                     # terminated, never joined
