# expect: serve=fail
# why: calls handler(conn) itself, in the server's process: one client at a time, no process per client
# %% serve
def serve(listener, handler, n_clients):
    for _ in range(n_clients):
        conn, _ = listener.accept()
        with conn:
            handler(conn)
