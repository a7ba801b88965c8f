# expect: book_ticket=fail
# why: returns 1/0 instead of True/False (the contract asks for a bool)
# mistake: book_ticket/wrong-answer
# %% book_ticket
def book_ticket(lock, db, name):
    db.query()
    with lock:
        n = db.get()
        if n > 0:
            db.set(n - 1)
            db.record(name)
            return 1
        return 0
