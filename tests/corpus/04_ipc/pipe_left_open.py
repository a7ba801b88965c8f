# expect: pipe_worker=fail
# why: pipe_worker returns without closing conn: the parent never sees EOF while the process lives
# mistake: pipe_worker/left-open
# %% pipe_worker
def pipe_worker(conn):
    while True:
        s = conn.recv()
        if s is None:
            return
        conn.send(s.upper())
