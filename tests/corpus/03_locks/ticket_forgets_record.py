# expect: book_ticket=fail
# why: sells the ticket but never records the buyer's name
# mistake: book_ticket/wrong-answer
# %% book_ticket
def book_ticket(lock, db, name):
    db.query()
    with lock:
        n = db.get()
        if n > 0:
            db.set(n - 1)
            return True
        return False
