# expect: pipe_worker=zero
# why: `del conn` only drops this name; the connection is closed only when no reference is left, and the caller still holds one, so the parent never sees EOF
# mistake: pipe_worker/left-open
# %% pipe_worker
def pipe_worker(conn):
    while (s := conn.recv()) is not None:
        conn.send(s.upper())
    del conn
