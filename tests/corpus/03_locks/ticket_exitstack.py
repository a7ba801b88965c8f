# why: a correct but unusual style: contextlib.ExitStack around the lock, the result kept in a variable
# %% book_ticket
import contextlib


def book_ticket(lock, db, name):
    db.query()
    sold = False
    with contextlib.ExitStack() as stack:
        stack.enter_context(lock)
        n = db.get()
        if n > 0:
            db.set(n - 1)
            db.record(name)
            sold = True
    return sold
