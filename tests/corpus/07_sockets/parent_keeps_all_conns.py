# expect: serve=fail
# why: keeps every accepted connection in a list and closes them only after joining: no EOF for a finished client
# %% serve
import multiprocessing


def serve(listener, handler, n_clients):
    conns, workers = [], []
    for _ in range(n_clients):
        conn, _ = listener.accept()
        conns.append(conn)
        w = multiprocessing.Process(target=handler, args=(conn,))
        w.start()
        workers.append(w)
    for w in workers:
        w.join()
    for c in conns:
        c.close()
