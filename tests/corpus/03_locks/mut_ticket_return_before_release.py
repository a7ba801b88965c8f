# expect: book_ticket=fail
# why: (mutant found by scripts/mutation.py) `with lock:` turned into acquire()/release() with both returns before the release: the lock is never released and every later buyer waits forever (the grader reports grader/bug "the buyer processes did not finish in 10 s" today, instead of naming the mistake)
# mistake: book_ticket/lock-not-released
# %% book_ticket
def book_ticket(lock, db, name):
    db.query()
    lock.acquire()
    n = db.get()
    if n > 0:
        db.set(n - 1)
        db.record(name)
        return True
    return False
    lock.release()
