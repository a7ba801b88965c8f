# why: a different correct style: explicit acquire/try/finally, an ordered lock list, early returns
# %% withdraw
def withdraw(lock, account, amount):
    lock.acquire()
    try:
        balance = account.get()
        account.set(balance - amount)
    finally:
        lock.release()

# %% book_ticket
def book_ticket(lock, db, name):
    left = db.query()
    lock.acquire()
    try:
        n = db.get()
        if n <= 0:
            return False
        db.set(n - 1)
        db.record(name)
        return True
    finally:
        lock.release()

# %% transfer
def transfer(locks, accounts, src, dst, amount):
    if src == dst:
        return None
    ordered = [locks[k] for k in sorted({src, dst})]
    for lk in ordered:
        lk.acquire()
    try:
        accounts[src].set(accounts[src].get() - amount)
        accounts[dst].set(accounts[dst].get() + amount)
    finally:
        for lk in reversed(ordered):
            lk.release()
