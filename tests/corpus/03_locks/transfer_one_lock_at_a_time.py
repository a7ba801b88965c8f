# expect: transfer=fail
# why: each account updated under its own lock only: never deadlocks, but the transfer is not atomic
# mistake: transfer/one-lock-at-a-time
# %% transfer
def transfer(locks, accounts, src, dst, amount):
    if src == dst:
        return
    with locks[src]:
        accounts[src].set(accounts[src].get() - amount)
    with locks[dst]:
        accounts[dst].set(accounts[dst].get() + amount)
