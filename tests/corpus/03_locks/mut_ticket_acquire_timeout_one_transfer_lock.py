# expect: book_ticket=fail transfer=fail
# why: (mutants found by scripts/mutation.py) book_ticket takes acquire(timeout=0.1) and buys whether or not it got the lock (ESCAPES the grader today: no check holds the lock past the buyer's timeout; the stress oracle sees a ValueError from the release, or an oversold ticket); transfer takes only the lock of the later account in name order
# mistake: book_ticket/gives-up-waiting transfer/one-lock-at-a-time
# %% book_ticket
def book_ticket(lock, db, name):
    db.query()
    lock.acquire(timeout=0.1)
    try:
        n = db.get()
        if n > 0:
            db.set(n - 1)
            db.record(name)
            return True
        return False
    finally:
        lock.release()

# %% transfer
def transfer(locks, accounts, src, dst, amount):
    if src == dst:
        return
    first, second = sorted((src, dst))
    with locks[second]:
        accounts[src].set(accounts[src].get() - amount)
        accounts[dst].set(accounts[dst].get() + amount)
