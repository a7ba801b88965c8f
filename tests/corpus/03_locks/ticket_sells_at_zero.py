# expect: book_ticket=fail
# why: n >= 0 instead of n > 0: with no ticket left it still sells one (the count goes to -1)
# mistake: book_ticket/wrong-answer
# %% book_ticket
def book_ticket(lock, db, name):
    db.query()
    with lock:
        n = db.get()
        if n >= 0:
            db.set(n - 1)
            db.record(name)
            return True
        return False
