# expect: pipe_worker=fail
# why: `if not s` stops at the empty string: only None means stop
# mistake: pipe_worker/stops-on-empty
# %% pipe_worker
def pipe_worker(conn):
    while True:
        s = conn.recv()
        if not s:
            break
        conn.send(s.upper())
    conn.close()
