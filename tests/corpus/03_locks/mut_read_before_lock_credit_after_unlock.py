# expect: withdraw=fail transfer=fail
# why: (mutants found by scripts/mutation.py) withdraw reads the balance before `with lock:` and writes it under the lock; transfer debits under both locks and credits after releasing them: both lose updates
# mistake: withdraw/partial-lock transfer/no-lock
# %% withdraw
def withdraw(lock, account, amount):
    balance = account.get()
    with lock:
        account.set(balance - amount)

# %% transfer
def transfer(locks, accounts, src, dst, amount):
    if src == dst:
        return
    first, second = sorted((src, dst))
    with locks[first], locks[second]:
        accounts[src].set(accounts[src].get() - amount)
    accounts[dst].set(accounts[dst].get() + amount)
