# expect: serve=fail
# why: never closes the parent's copy of each accepted connection: a finished client sees no EOF
# %% serve
from multiprocessing import Process


def serve(listener, handler, n_clients):
    workers = []
    for _ in range(n_clients):
        conn, _ = listener.accept()
        w = Process(target=handler, args=(conn,))
        w.start()
        workers.append(w)
    for w in workers:
        w.join()
