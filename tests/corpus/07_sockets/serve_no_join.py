# expect: serve=fail
# why: returns right after starting the handlers, without waiting for them
# %% serve
import multiprocessing


def serve(listener, handler, n_clients):
    for _ in range(n_clients):
        conn, _ = listener.accept()
        multiprocessing.Process(target=handler, args=(conn,)).start()
        conn.close()
