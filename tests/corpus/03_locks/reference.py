# The model answers of 03_locks (every exercise must earn full marks).
# %% withdraw
def withdraw(lock, account, amount):
    with lock:
        account.set(account.get() - amount)

# %% book_ticket
def book_ticket(lock, db, name):
    db.query()
    with lock:
        n = db.get()
        if n > 0:
            db.set(n - 1)
            db.record(name)
            return True
        return False

# %% transfer
def transfer(locks, accounts, src, dst, amount):
    if src == dst:
        return
    first, second = sorted((src, dst))
    with locks[first], locks[second]:
        accounts[src].set(accounts[src].get() - amount)
        accounts[dst].set(accounts[dst].get() + amount)
