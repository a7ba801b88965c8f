# expect: book_ticket=fail
# why: reads under the lock, but decides and writes after releasing it: the last ticket sells twice
# mistake: book_ticket/partial-lock
# %% book_ticket
def book_ticket(lock, db, name):
    db.query()
    with lock:
        n = db.get()
    if n <= 0:
        return False
    with lock:
        db.set(n - 1)
    db.record(name)
    return True
