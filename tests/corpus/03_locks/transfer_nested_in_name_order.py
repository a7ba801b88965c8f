# expect: transfer=fail
# why: locks the source, then (only inside) the destination: the classic lock-order deadlock when two transfers cross
# mistake: transfer/lock-order
# %% transfer
def transfer(locks, accounts, src, dst, amount):
    if src == dst:
        return
    with locks[src]:
        with locks[dst]:
            accounts[src].set(accounts[src].get() - amount)
            accounts[dst].set(accounts[dst].get() + amount)
