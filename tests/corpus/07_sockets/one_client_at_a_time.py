# expect: serve=fail
# why: starts a handler process and joins it before accepting the next client: clients are served one at a time
# %% serve
import multiprocessing


def serve(listener, handler, n_clients):
    for _ in range(n_clients):
        conn, addr = listener.accept()
        p = multiprocessing.Process(target=handler, args=(conn,))
        p.start()
        conn.close()
        p.join()
