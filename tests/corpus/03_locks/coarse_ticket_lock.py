# expect: book_ticket=partial
# why: correct, but db.query() runs under the lock, so queries never overlap
# mistake: book_ticket/coarse-lock
# %% book_ticket
def book_ticket(lock, db, name):
    with lock:
        db.query()
        n = db.get()
        if n > 0:
            db.set(n - 1)
            db.record(name)
            return True
    return False
