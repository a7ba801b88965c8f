# expect: book_ticket=fail
# why: never takes the lock: three buyers all read 1 ticket left, and the last ticket sells three times
# mistake: book_ticket/no-lock
# %% book_ticket
def book_ticket(lock, db, name):
    db.query()
    n = db.get()
    if n > 0:
        db.set(n - 1)
        db.record(name)
        return True
    return False
