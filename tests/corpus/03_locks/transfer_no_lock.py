# expect: transfer=fail
# why: no lock at all: the two transfers interleave and one of them is lost
# mistake: transfer/no-lock
# %% transfer
def transfer(locks, accounts, src, dst, amount):
    if src == dst:
        return
    accounts[src].set(accounts[src].get() - amount)
    accounts[dst].set(accounts[dst].get() + amount)
