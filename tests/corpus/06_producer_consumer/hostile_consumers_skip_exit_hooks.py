# expect: pipeline=fail
# why: (a student gaming the grader) run_pipeline returns without joining its consumers, and each consumer
#      ends with os._exit(0) after flushing its results, which skips every exit hook of the process (so a
#      hold the grader sets at a consumer's end never comes); but a consumer that ended and was never joined
#      is still a zombie of the caller when run_pipeline returns (under forkserver: its exit status is still
#      unread in the caller's pipe), and the grader sees that
# mistake: pipeline/not-joined
# %% pipeline
import multiprocessing
import os


def producer(q, items):
    for item in items:
        q.put(item)


def consumer(q, results, transform):
    while True:
        item = q.get()
        if item is None:
            break
        results.put(transform(item))
    results.close()
    results.join_thread()          # every result is in the pipe
    os._exit(0)                    # no exit hooks


def run_pipeline(batches, n_consumers, transform, maxsize):
    q = multiprocessing.Queue(maxsize)
    results = multiprocessing.Queue()
    producers = [multiprocessing.Process(target=producer, args=(q, batch)) for batch in batches]
    consumers = [multiprocessing.Process(target=consumer, args=(q, results, transform))
                 for _ in range(n_consumers)]
    for p in consumers + producers:
        p.start()
    for p in producers:
        p.join()
    for _ in consumers:
        q.put(None)
    out = [results.get() for _ in range(sum(len(batch) for batch in batches))]
    return out                     # the consumers are never joined
