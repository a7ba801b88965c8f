# expect: transfer=fail
# why: locks taken in argument order: opposite transfers deadlock
# mistake: transfer/lock-order
# %% transfer
def transfer(locks, accounts, src, dst, amount):
    if src == dst:
        return
    with locks[src], locks[dst]:
        accounts[src].set(accounts[src].get() - amount)
        accounts[dst].set(accounts[dst].get() + amount)
