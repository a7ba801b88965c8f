# expect: pipe_worker=zero
# why: answers one string only, then closes and returns
# mistake: pipe_worker/stops-early
# %% pipe_worker
def pipe_worker(conn):
    s = conn.recv()
    conn.send(s.upper())
    conn.close()
