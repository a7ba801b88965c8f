# why: a correct but unusual style: explicit acquire/try/finally, the query's answer used for an early return
# %% book_ticket
def book_ticket(lock, db, name):
    if db.query() <= 0:
        return False
    lock.acquire()
    try:
        left = db.get()
        if left <= 0:
            return False
        db.set(left - 1)
        db.record(name)
    finally:
        lock.release()
    return True
